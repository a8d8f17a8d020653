"""SFT-GAN with Spatial Feature Transform on and off (Wang et al., CVPR 2018), x4 RGB.

Both variants share the backbone; `nosft` replaces every SFT layer by the identity. The
condition source (what produces the 8-category probability maps) is part of the model
config and recorded with every run; the weight-free default is not semantic.
"""

from srbench.experiment import Experiment

EXPERIMENT = Experiment(
    name="sftgan_ablation",
    description="SFT-GAN with SFT layers on / off (x4, RGB)",
    model={"name": "sftgan", "condition": {"source": "colour_texture"}},
    scale=4,
    variants={
        "SFT-on": {"model.variant": "sft"},
        "SFT-off": {"model.variant": "nosft"},
    },
    # LPIPS with torchvision's ImageNet AlexNet ("imagenet" downloads it; or a local
    # alexnet-owt-7be5be79.pth); without it LPIPS reads n/a.
    train={"lpips_weights": "imagenet"},
    budgets={"smoke": {"lpips_weights": "random"}},
    train_set="BSDS200",
)
