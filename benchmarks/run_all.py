"""Every speed figure srbench documents, in one run, with the machine they were measured on.

    SRBENCH_DATA=../shared/data python benchmarks/run_all.py [--basicsr-src PATH/TO/basicsr] [--quick]

Runs, one after the other (so they never share the CPUs): the training step per family and precision,
the loop against a bare step, a whole smoke sweep of the SRCNN ablation (trial start-up cold and cached,
makespan against the ideal, disk), metrics against scikit-image (and BasicSR), and imresize against
BasicSR. ``--quick`` shortens the step and loop timings (fewer steps) for a first look. The precision
parity benchmark (two full ``quick`` trainings) is separate: ``benchmarks/precision_parity.py``.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--basicsr-src", help="an unpacked basicsr package folder (for the BasicSR comparisons)")
    parser.add_argument("--quick", action="store_true", help="fewer timed steps")
    args = parser.parse_args()

    import torch

    from srbench.hardware import describe_hardware

    basicsr = ["--basicsr-src", args.basicsr_src] if args.basicsr_src else []
    runs = [
        ("training step per family and precision", "step_speed.py", ["--steps", "2" if args.quick else "5"]),
        (
            "the training loop against a bare step (SRCNN 9-1-5 x3, quick batch)",
            "loop_speed.py",
            ["--steps", "100", "--long", "600"] if args.quick else [],
        ),
        ("a smoke sweep of the SRCNN ablation", "sweep_speed.py", []),
        ("metrics against scikit-image and BasicSR", "metrics_speed.py", basicsr),
        ("imresize against BasicSR", "imresize_speed.py", basicsr),
    ]
    print(
        f"srbench benchmarks, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {describe_hardware()}, "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )
    failed = []
    for title, script, extra in runs:
        print(f"\n## {title}\n$ python benchmarks/{script} {' '.join(extra)}".rstrip(), flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(HERE / script), *extra], stderr=subprocess.PIPE, text=True)
        code = done.returncode
        print(
            f"({time.perf_counter() - start:.0f} s{'' if code == 0 else f', FAILED with exit code {code}'})", flush=True
        )
        if code:
            print("\n".join(done.stderr.splitlines()[-15:]))
            failed.append(script)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
