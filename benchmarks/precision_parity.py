"""Precision parity: the same trial trained twice from the same seed, fp32 and the default precision (auto).

    SRBENCH_DATA=../shared/data python benchmarks/precision_parity.py [--model srcnn --variant 9-1-5 --scale 3
        --budget quick] [--set iterations=2000]

Prints, for each precision, the final Y-PSNR / SSIM on Set5, Set14 and BSD100 (all images) and the wall
time of the training loop and of the whole trial (training set preparation, training and scoring), then
the PSNR differences. Target (issue 15): within 0.05 dB on every set. The run folders are kept under
``--out`` (default ``benchmark_runs/precision_parity``), so every figure can be traced to its run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from srbench.data import resolve_data_root
from srbench.hardware import describe_hardware
from srbench.study.load import parse_settings
from srbench.train.config import make_config
from srbench.train.loop import Trainer

SETS = ["Set5", "Set14", "BSD100"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="srcnn")
    parser.add_argument("--variant", default="9-1-5")
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a training field")
    parser.add_argument("--out", type=Path, default=Path("benchmark_runs/precision_parity"))
    args = parser.parse_args()

    model = {"name": args.model, "variant": args.variant}
    overrides = {"eval_sets": SETS, "seed": 0, **parse_settings(args.set)}
    results = {}
    for precision in ("fp32", "auto"):
        config = make_config(model, args.scale, args.budget, **{**overrides, "precision": precision})
        run_dir = (
            args.out
            / f"{args.model}-{args.variant}-x{args.scale}-{args.budget}-{precision}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        start = time.perf_counter()
        trainer = Trainer(config, run_dir, resolve_data_root(), show_progress=False)
        result = trainer.fit()
        results[precision] = (trainer.precision, result, time.perf_counter() - start, run_dir)
        print(f"{precision}: done in {time.perf_counter() - start:.0f} s ({run_dir})", flush=True)

    print(
        f"\n{args.model} {args.variant} x{args.scale}, budget {args.budget} ({config.iterations} iterations, batch "
        f"{config.batch_size}, patch {config.patch_size}), seed 0; {describe_hardware()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"{'precision':<14}" + "".join(f"{s + ' PSNR/SSIM':>20}" for s in SETS) + f"{'training':>11}{'trial':>9}")
    for setting, (used, result, wall, _) in results.items():
        scores = {s["set"]: s for s in result["sets"]}
        print(
            f"{f'{setting} ({used})':<14}"
            + "".join(f"{scores[s]['psnr_y']:>12.2f} {scores[s]['ssim_y']:.4f}" for s in SETS)
            + f"{result['wall_time_s']:>10.0f}s{wall:>8.0f}s"
        )
    fp32, auto = ({s["set"]: s["psnr_y"] for s in results[p][1]["sets"]} for p in ("fp32", "auto"))
    print(
        "PSNR difference auto - fp32: "
        + ", ".join(f"{s} {auto[s] - fp32[s]:+.3f} dB" for s in SETS)
        + f"; training speed-up {results['fp32'][1]['wall_time_s'] / results['auto'][1]['wall_time_s']:.2f}x"
    )


if __name__ == "__main__":
    main()
