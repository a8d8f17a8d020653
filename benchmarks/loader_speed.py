"""Loader overhead: training-step time with the real patch loader vs with one pre-built batch.

    SRBENCH_DATA=../shared/data python benchmarks/loader_speed.py [--model srcnn --scale 3 --budget quick]

Both timings use the same Trainer (model, optimiser, batch size, patch size of the
budget); the real-loader figure is the training loop itself, the other repeats
the step on a batch already in memory. Target for
SRCNN on CPU: loader overhead <= 5%.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from srbench.data import resolve_data_root
from srbench.hardware import describe_hardware
from srbench.train.config import make_config
from srbench.train.loop import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="srcnn")
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args()

    config = make_config({"name": args.model}, args.scale, args.budget, val_every=10**9)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, Path(tmp) / "run", resolve_data_root(), show_progress=False)
        batch = trainer.sampler.sample(torch.Generator().manual_seed(1), config.batch_size)
        for _ in range(20):  # warm-up
            trainer._step(batch)
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer._step(batch)
        prebuilt = (time.perf_counter() - start) / args.steps

        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.sampler.sample(trainer.sampler_rng, config.batch_size)
        sampling = (time.perf_counter() - start) / args.steps

        trainer.fit(stop_at=args.steps)
        real = trainer.elapsed / args.steps

    print(
        f"{args.model} x{args.scale}, budget {args.budget}: batch {config.batch_size}, patch {config.patch_size}; "
        f"{describe_hardware()}, torch {torch.__version__}, {torch.get_num_threads()} threads, {args.steps} steps"
    )
    print(f"step with a pre-built in-memory batch   {prebuilt * 1000:7.2f} ms")
    print(f"step with the real loader (training loop) {real * 1000:7.2f} ms")
    print(f"sampling alone (not overlapped)          {sampling * 1000:7.2f} ms")
    print(f"loader overhead                          {100 * (real / prebuilt - 1):+7.1f} %")


if __name__ == "__main__":
    main()
