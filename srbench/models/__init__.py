"""The model zoo: plain ``torch.nn.Module`` s, built by name from dict configs.

>>> from srbench.models import build_model
>>> build_model({"name": "srcnn", "variant": "9-5-5"})

Families (one file each): SRCNN, SRDenseNet, SRResNet/SRGAN, SFT-GAN; plus the VGG19
feature extractor used by perceptual losses. Models know nothing of Ray or MLflow.
"""

# Importing the family modules registers them, in this (listing) order.
from srbench.models import srcnn, srdensenet, srresnet, sftgan  # noqa: F401,I001
from srbench.models.complexity import count_parameters, macs_per_output_megapixel, model_figures
from srbench.models.registry import MODELS, build_model, get_entry, resolve_config

__all__ = [
    "MODELS",
    "build_model",
    "count_parameters",
    "get_entry",
    "macs_per_output_megapixel",
    "model_figures",
    "resolve_config",
]
