"""BasicSR 1.4.2's NIQE of Set5 and Set14, HR and bicubic x4: the reference values ``tests/test_niqe.py`` holds
srbench's NIQE to (within 0.01). Writes ``tests/fixtures/niqe_basicsr.json``:

    pip download --no-deps --no-build-isolation basicsr==1.4.2 -d /tmp/basicsr_dl
    tar xzf /tmp/basicsr_dl/basicsr-1.4.2.tar.gz -C /tmp/basicsr_dl
    pip install opencv-python-headless scipy      # BasicSR's metrics need them; srbench does not
    SRBENCH_DATA=../shared/data python benchmarks/niqe_reference.py --basicsr-src /tmp/basicsr_dl/basicsr-1.4.2/basicsr

The images are the ones ``srbench eval`` scores at scale 4: each HR image modcropped to a multiple of 4, and its
bicubic x4 SR (MATLAB bicubic down, then up, uint8: srbench's own ``imresize``). BasicSR gets them as its own
scripts read them, BGR uint8 HWC, through ``calculate_niqe(img, crop_border=4, input_order='HWC', convert_to='y')``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import scipy
import torch
from basicsr_source import bgr_of, load_basicsr_metric

from srbench.data import get_spec, load_set, resolve_data_root
from srbench.degrade import bicubic_lr, imresize, modcrop

SCALE = 4
SETS = ("Set5", "Set14")
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "niqe_basicsr.json"
COMMAND = "SRBENCH_DATA=../shared/data python benchmarks/niqe_reference.py --basicsr-src PATH/TO/basicsr"


def reference_images(hr: torch.Tensor) -> dict[str, torch.Tensor]:
    """What ``srbench eval`` scores at ``SCALE`` for one HR image: ``hr`` (``srbench eval hr``) and ``bicubic``."""
    cropped = modcrop(hr, SCALE)
    return {"hr": cropped, "bicubic": imresize(bicubic_lr(cropped, SCALE), scale=SCALE)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--basicsr-src", required=True, help="an unpacked basicsr package folder (holding metrics/)")
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args()
    basicsr = load_basicsr_metric(args.basicsr_src, "niqe")
    pristine = Path(args.basicsr_src) / "metrics" / "niqe_pris_params.npz"
    values: dict[str, dict[str, dict[str, float]]] = {}
    for set_name in SETS:
        values[set_name] = {}
        for name, hr in load_set(get_spec(set_name), resolve_data_root()):
            values[set_name][name] = {}
            for kind, image in reference_images(hr).items():
                with warnings.catch_warnings():  # numpy's "mean of empty slice" on blocks without a side, as intended
                    warnings.simplefilter("ignore", RuntimeWarning)
                    value = basicsr.calculate_niqe(bgr_of(image), SCALE, input_order="HWC", convert_to="y")
                values[set_name][name][kind] = value
            print(f"{set_name} {name}: {values[set_name][name]}")
    record = {
        "reference": "BasicSR 1.4.2 basicsr/metrics/niqe.py calculate_niqe(img_bgr_uint8, crop_border=4, "
        "input_order='HWC', convert_to='y')",
        "command": COMMAND,
        "scale": SCALE,
        "crop_border": SCALE,
        "pristine_params_sha256": hashlib.sha256(pristine.read_bytes()).hexdigest(),
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "torch": torch.__version__},
        "images": values,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
