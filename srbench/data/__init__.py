"""Data catalogue: named benchmark and training sets, one data root, verified downloads."""

from srbench.data.catalogue import (
    BENCHMARKS,
    CATALOGUE,
    DEFAULT_BENCHMARKS,
    DatasetSpec,
    absolute_set_fields,
    is_folder_set,
    set_label,
)
from srbench.data.fetch import fetch
from srbench.data.images import load_rgb, pixel_digest, save_png
from srbench.data.lookup import get_spec, parse_set_list
from srbench.data.root import resolve_data_root
from srbench.data.store import ensure, image_sizes, load_set, set_folder, status

__all__ = [
    "BENCHMARKS",
    "CATALOGUE",
    "DEFAULT_BENCHMARKS",
    "DatasetSpec",
    "absolute_set_fields",
    "ensure",
    "fetch",
    "get_spec",
    "image_sizes",
    "is_folder_set",
    "load_rgb",
    "load_set",
    "parse_set_list",
    "pixel_digest",
    "resolve_data_root",
    "save_png",
    "set_folder",
    "set_label",
    "status",
]
