"""The training loop against a bare step: what the loop (sampling, bookkeeping, logging) adds to each iteration.

    SRBENCH_DATA=../shared/data python benchmarks/loop_speed.py [--variant 9-1-5 --scale 3 --budget quick]

* bare step: the network alone on one batch already in memory: autocast forward, the pixel loss, backward and
  an Adam step, in the precision and memory layout ``precision: auto`` gives here and under the same OpenMP
  settings as ``srbench train``, nothing else;
* the trainer's step on that batch: the same, with the recipe's optimiser groups (SRCNN's last layer at a tenth
  of the rate) and learning-rate schedule: the loop without sampling and bookkeeping;
* the loop: ``srbench train`` run twice, for ``--short`` and ``--long`` iterations (same network, budget,
  precision and threads); the difference of their training times (``results.json``'s ``wall_time_s``: the loop
  and the one validation at the end, which both runs share) over the difference of iterations;
* sampling alone: the patch sampler's batches, one after another.

Target (issue 32): the loop within 1.15x of the bare step.
"""

from __future__ import annotations

# First, before torch loads OpenMP: srbench's OpenMP wait policy (passive, see srbench/__init__.py), under which
# `srbench train` runs the loop, is then also the bare step's (torch's default, spinning, is ~15% faster on an idle
# machine, and comparing the two measured the policy rather than the loop).
import srbench  # noqa: F401

# isort: split
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from srbench.data import resolve_data_root
from srbench.hardware import describe_hardware
from srbench.train.config import make_config
from srbench.train.loop import Trainer
from srbench.train.precision import autocast


def bare_step_ms(trainer: Trainer, steps: int) -> float:
    """The network, its loss and its optimiser (fused Adam, as the trainer's) on one in-memory batch: the floor the
    loop is measured against."""
    batch = trainer.sampler.sample(torch.Generator().manual_seed(1), trainer.config.batch_size)
    x = batch.inputs.contiguous(memory_format=trainer.memory_format)
    border = trainer.network.border
    target = batch.targets[..., border:-border, border:-border] if border else batch.targets
    model = trainer.model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=trainer.config.lr, fused=True)  # as the trainer's

    def step() -> None:
        with autocast(trainer.precision, trainer.device):
            loss = torch.nn.functional.mse_loss(model(x).float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(20):  # warm-up
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps * 1000


def trainer_step_ms(trainer: Trainer, steps: int) -> float:
    batch = trainer.sampler.sample(torch.Generator().manual_seed(1), trainer.config.batch_size)
    for _ in range(20):  # warm-up
        trainer._step(batch)
    start = time.perf_counter()
    for _ in range(steps):
        trainer._step(batch)
    return (time.perf_counter() - start) / steps * 1000


def sampling_ms(trainer: Trainer, steps: int) -> float:
    generator = torch.Generator().manual_seed(2)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.sampler.sample(generator, trainer.config.batch_size)
    return (time.perf_counter() - start) / steps * 1000


def train_seconds(args: argparse.Namespace, iterations: int, folder: Path) -> float:
    """``srbench train`` for ``iterations``: its training time (results.json's ``wall_time_s``)."""
    run_dir = folder / f"run-{iterations}"
    command = [
        sys.executable, "-m", "srbench", "train", "--model", "srcnn", "--variant", args.variant,
        "--scale", str(args.scale), "--budget", args.budget, "--quiet", "--run-dir", str(run_dir),
        "--set", f"iterations={iterations}", "--set", 'eval_sets=["Set5"]', "--set", "val_images=1",
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads((run_dir / "results.json").read_text())["wall_time_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="9-1-5")
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--short", type=int, default=200)
    parser.add_argument("--long", type=int, default=1200)
    parser.add_argument("--steps", type=int, default=300, help="timed bare steps and samplings")
    args = parser.parse_args()

    config = make_config({"name": "srcnn", "variant": args.variant}, args.scale, args.budget, val_every=10**9)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, Path(tmp) / "bare", resolve_data_root(), show_progress=False)
        bare, sampling = bare_step_ms(trainer, args.steps), sampling_ms(trainer, args.steps)
        step = trainer_step_ms(trainer, args.steps)
        short, long = train_seconds(args, args.short, Path(tmp)), train_seconds(args, args.long, Path(tmp))
    loop = (long - short) / (args.long - args.short) * 1000
    print(
        f"SRCNN {args.variant} x{args.scale}, budget {args.budget}: batch {config.batch_size}, patch "
        f"{config.patch_size}, {trainer.precision}; {describe_hardware()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"bare step (network, loss, Adam; one in-memory batch)       {bare:7.2f} ms")
    print(f"the trainer's step (recipe's optimiser groups and schedule)  {step:7.2f} ms")
    print(f"sampling alone                                             {sampling:7.2f} ms")
    print(
        f"loop: srbench train {args.long} - {args.short} iterations ({long:.1f} s - {short:.1f} s)"
        f"{'':>{max(0, 8 - len(str(args.long)) - len(str(args.short)))}}{loop:7.2f} ms"
    )
    print(f"loop / bare step                                           {loop / bare:7.2f} x")
    print(f"loop / the trainer's step                                  {loop / step:7.2f} x")


if __name__ == "__main__":
    main()
