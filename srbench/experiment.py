"""The study-file API: what a study file imports to declare a study (``Experiment``) and a network of its own
(``register``). Kept at this address for every study file written against it; the spec itself lives in
``srbench.study.experiment``."""

from srbench.models.registry import register
from srbench.study.experiment import Experiment

__all__ = ["Experiment", "register"]
