"""BasicSR 1.4.2's metric modules, the speed and correctness reference of srbench's metrics.

Get its source archive with ``pip download --no-deps --no-build-isolation basicsr==1.4.2 -d /tmp/basicsr_dl`` and
unpack it (``tar xzf /tmp/basicsr_dl/basicsr-1.4.2.tar.gz -C /tmp/basicsr_dl``): ``--basicsr-src`` is then
``/tmp/basicsr_dl/basicsr-1.4.2/basicsr``. Its metrics need ``opencv-python-headless`` and scipy. The modules are
loaded from their files under stub packages, because BasicSR's package ``__init__`` imports code that fails
against current torchvision.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

import numpy as np
import torch

# Loaded in this order: each imports only the ones before it (and numpy, scipy, cv2, torch).
_MODULES = {
    "psnr_ssim": ("utils/color_util", "utils/registry", "metrics/metric_util", "metrics/psnr_ssim"),
    "niqe": (
        "utils/color_util",
        "utils/registry",
        "utils/matlab_functions",
        "metrics/metric_util",
        "metrics/niqe",
    ),
}


def _load(name: str, path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_basicsr_metric(src: str | None, name: str) -> types.ModuleType | None:
    """``basicsr.metrics.<name>`` (``psnr_ssim`` or ``niqe``): from ``src``, an unpacked basicsr package folder, or
    installed where ``src`` is None; None where it is not installed or does not import."""
    if src is None:
        try:
            return importlib.import_module(f"basicsr.metrics.{name}")
        except Exception:  # not installed, or its import chain fails with this torchvision
            return None
    for package in ("basicsr", "basicsr.utils", "basicsr.metrics"):
        sys.modules.setdefault(package, types.ModuleType(package))
    module = None
    for relative in _MODULES[name]:
        module = _load("basicsr." + relative.replace("/", "."), os.path.join(src, *relative.split("/")) + ".py")
        if relative == "utils/color_util":
            sys.modules["basicsr.utils"].bgr2ycbcr = module.bgr2ycbcr
    return module


def bgr_of(image: torch.Tensor) -> np.ndarray:
    """A ``(3, H, W)`` RGB tensor as BasicSR's scripts read images (``cv2.imread``): ``(H, W, 3)`` BGR."""
    return np.ascontiguousarray(image.permute(1, 2, 0).numpy()[..., ::-1])
