"""Training-step time per family and precision: what the ``quick`` budgets are sized from.

    SRBENCH_DATA=../shared/data python benchmarks/step_speed.py [--threads 2] [--steps 5]

One step is the training loop's own (sampling a batch, forward, loss, backward, optimiser), at each
family's ``quick`` batch and patch size, after warm-up steps; GAN rows time the adversarial phase
(discriminator and generator updates). ``auto`` is what the default precision resolves to here.
"""

from __future__ import annotations

# First, before torch loads OpenMP: srbench's OpenMP wait policy (passive, srbench/__init__.py), which srbench's
# commands run under, is then this benchmark's too (torch's default spins: faster on an idle machine).
import srbench  # noqa: F401

# isort: split
import argparse
import tempfile
import time
from pathlib import Path

import torch

from srbench.data import resolve_data_root
from srbench.hardware import describe_hardware
from srbench.train.config import make_config
from srbench.train.loop import Trainer

ROWS = [  # label, model, scale, overrides
    ("SRCNN 9-1-5 x3", {"name": "srcnn", "variant": "9-1-5"}, 3, {}),
    ("SRCNN 9-5-5 x3", {"name": "srcnn", "variant": "9-5-5"}, 3, {}),
    ("SRDenseNet ALL x4", {"name": "srdensenet", "variant": "ALL"}, 4, {}),
    ("SRResNet MSE x4", {"name": "srresnet"}, 4, {}),
    (
        "SRGAN VGG54 x4 (adversarial)",
        {"name": "srresnet"},
        4,
        {"adversarial_weight": 1e-3, "content_loss": "vgg54", "vgg_weights": "random"},
    ),
    ("SFT-GAN x4 (adversarial)", {"name": "sftgan"}, 4, {}),
]


def step_ms(model: dict, scale: int, overrides: dict, precision: str, steps: int) -> tuple[float, str, str]:
    config = make_config(model, scale, "quick", precision=precision, val_every=10**9, train_images=8, **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, Path(tmp) / "run", resolve_data_root(), show_progress=False)
        trainer.iteration = config.pretrain_iterations  # GANs: time the adversarial phase
        for _ in range(2):
            trainer._step(trainer.sampler.sample(trainer.sampler_rng, config.batch_size))
        start = time.perf_counter()
        for _ in range(steps):
            step = trainer._step(trainer.sampler.sample(trainer.sampler_rng, config.batch_size))
        float(step["loss"])  # the steps' losses stay on the device: wait for the last one (GPUs run ahead)
        return (
            (time.perf_counter() - start) / steps * 1000,
            trainer.precision,
            f"{config.batch_size} x {config.patch_size}",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--steps", type=int, default=5, help="timed steps per row (SRCNN rows: 10x as many)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"training step, {describe_hardware()}, torch {torch.__version__}, {args.threads} thread(s)")
    print(f"{'model':<30}{'batch x patch':>15}{'fp32 ms':>10}{'auto ms':>10}{'auto is':>9}{'speed-up':>10}")
    for label, model, scale, overrides in ROWS:
        steps = args.steps * (10 if model["name"] == "srcnn" else 1)
        fp32, _, shape = step_ms(model, scale, overrides, "fp32", steps)
        auto, used, _ = step_ms(model, scale, overrides, "auto", steps)
        print(f"{label:<30}{shape:>15}{fp32:>10.1f}{auto:>10.1f}{used:>9}{fp32 / auto:>9.2f}x", flush=True)


if __name__ == "__main__":
    main()
