"""The named data sets srbench knows: where they live on disk and on the web.

Digests are SHA-256 of the decoded RGB pixels (see ``images.pixel_digest``),
computed from the reference copies, so a losslessly re-encoded file still
verifies. Sets without digests are checked by image count only and say so.

Users' own sets are folders of HR images named ``folder:<path>`` wherever a set
name goes (:mod:`srbench.data.folders`): their digests are computed from their
pixels, and their name in metrics and leaderboards is the folder's base name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path, PurePath
from typing import Any, Literal


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: Literal["benchmark", "train"]
    description: str
    citation: str
    homepage: str
    # Public archive holding the images, or None where the owners require a request.
    url: str | None
    # fnmatch pattern selecting the set's images among the archive members.
    members: str
    count: int
    digests: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    # A user's own set (``folder:<path>``): the absolute folder holding its images, outside any data root.
    folder: str | None = None

    @property
    def relpath(self) -> str:
        """Where the images sit under the data root (a catalogue set's only: a folder set is where it is)."""
        if self.folder is not None:
            raise ValueError(f"{self.name} is the folder set {self.folder}: it has no place under a data root")
        return f"benchmarks/{self.name}/HR" if self.kind == "benchmark" else f"train/{self.name}"

    @property
    def verifiable(self) -> bool:
        return bool(self.digests)

    @property
    def set_digest(self) -> str:
        """One digest for the whole set: SHA-256 over its images' pixel digests (names sorted), so a
        configuration hash changes whenever the data would; sets without digests say so instead."""
        if not self.digests:
            return f"unverified:{self.name}:{self.count}"
        text = json.dumps(sorted(self.digests.items()), separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _digests() -> dict[str, dict[str, str]]:
    return json.loads(resources.files("srbench.data").joinpath("digests.json").read_text())


_BSDS500_URL = "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz"
_HF = "https://huggingface.co/datasets/eugenesiow/{0}/resolve/main/data/{0}_HR.tar.gz"


def _build() -> dict[str, DatasetSpec]:
    digests = _digests()
    specs = [
        DatasetSpec(
            "Set5",
            "benchmark",
            "5 images: baby, bird, butterfly, head, woman",
            "Bevilacqua et al., BMVC 2012",
            "http://people.rennes.inria.fr/Aline.Roumy/results/SR_BMVC12.html",
            _HF.format("Set5"),
            "*",
            5,
        ),
        DatasetSpec(
            "Set14",
            "benchmark",
            "14 images (bridge is greyscale)",
            "Zeyde et al., Curves and Surfaces 2010",
            "https://sites.google.com/site/romanzeyde/research-interests",
            _HF.format("Set14"),
            "*",
            14,
        ),
        DatasetSpec(
            "BSD100",
            "benchmark",
            "the 100 BSDS500 'val' (= BSDS300 test) images",
            "Martin et al., ICCV 2001",
            "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/bsds/",
            _BSDS500_URL,
            "*/images/val/*.jpg",
            100,
        ),
        DatasetSpec(
            "Urban100",
            "benchmark",
            "100 urban scenes with self-similar structure",
            "Huang et al., CVPR 2015",
            "https://github.com/jbhuang0604/SelfExSR",
            _HF.format("Urban100"),
            "*",
            100,
        ),
        DatasetSpec(
            "Manga109",
            "benchmark",
            "109 manga volumes' covers; access on request from the owners",
            "Matsui et al., MTAP 2017",
            "http://www.manga109.org/en/download.html",
            None,
            "*",
            109,
        ),
        DatasetSpec(
            "BSDS200",
            "train",
            "the 200 BSDS500 'train' images (half of the classic 291-image set)",
            "Arbelaez et al., TPAMI 2011",
            "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/resources.html",
            _BSDS500_URL,
            "*/images/train/*.jpg",
            200,
        ),
        DatasetSpec(
            "T91",
            "train",
            "the 91 training images of Yang et al., used by SRCNN",
            "Yang et al., TIP 2010",
            "http://mmlab.ie.cuhk.edu.hk/projects/SRCNN.html",
            "http://mmlab.ie.cuhk.edu.hk/projects/SRCNN/SRCNN_train.zip",
            "*/Train/*.bmp",
            91,
        ),
        DatasetSpec(
            "DIV2K",
            "train",
            "800 2K-resolution training images",
            "Agustsson and Timofte, CVPRW 2017",
            "https://data.vision.ee.ethz.ch/cvl/DIV2K/",
            "http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip",
            "*/DIV2K_train_HR/*.png",
            800,
        ),
    ]
    return {s.name: replace(s, digests=digests.get(s.name, {})) for s in specs}


CATALOGUE: dict[str, DatasetSpec] = _build()
BENCHMARKS = [n for n, s in CATALOGUE.items() if s.kind == "benchmark"]
DEFAULT_BENCHMARKS = ["Set5", "Set14", "BSD100"]


FOLDER_PREFIX = "folder:"
# Fields of a training configuration that name data sets (one name, or a list of names).
SET_FIELDS = ("train_set", "eval_sets", "val_sets")


def is_folder_set(name: str) -> bool:
    """Whether ``name`` names a user's folder of images (``folder:<path>``) rather than a catalogue set."""
    return name.strip().startswith(FOLDER_PREFIX)


def absolute_set_name(name: str) -> str:
    """``folder:<relative path>`` -> ``folder:<absolute path>`` (against the current directory), so a configuration
    names the same folder wherever it is read (a Ray worker runs elsewhere); other names unchanged."""
    if not is_folder_set(name):
        return name
    path = name.strip().removeprefix(FOLDER_PREFIX)
    return FOLDER_PREFIX + str(Path(path).expanduser().resolve()) if path else name


def absolute_set_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` (training fields) with every folder set in ``SET_FIELDS`` made absolute (``absolute_set_name``);
    values of the wrong type are left for validation to name."""

    def absolute(value: Any) -> Any:
        if isinstance(value, str):
            return absolute_set_name(value)
        if isinstance(value, list):
            return [absolute_set_name(v) if isinstance(v, str) else v for v in value]
        return value

    return {k: absolute(v) if k in SET_FIELDS else v for k, v in fields.items()}


def set_label(name: str) -> str:
    """A set's name in metrics, crops and leaderboard columns, from its name in a configuration, without reading
    any file: a folder set's base name (``folder:/data/my_bench`` -> ``my_bench``), a catalogue set's own
    spelling (``set5`` -> ``Set5``), anything else as it is."""
    if is_folder_set(name):
        return PurePath(name.strip().removeprefix(FOLDER_PREFIX)).name
    return catalogue_name_like(name.strip()) or name


def catalogue_name_like(name: str) -> str | None:
    """The catalogue set named ``name`` regardless of case, if any."""
    return next((n for n in CATALOGUE if n.lower() == name.lower()), None)
