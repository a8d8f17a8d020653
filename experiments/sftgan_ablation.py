"""SFT-GAN with Spatial Feature Transform on and off (Wang et al., CVPR 2018), x4 RGB.

Both variants share the backbone; `nosft` replaces every SFT layer by the identity. The
condition source (what produces the 8-category probability maps) is part of the model
config and recorded with every run; the weight-free default is not semantic.

Recipe (srbench/train/config.py, from the authors' released training configuration): perceptual
loss on VGG19 conv5_4 with L1 and no pixel term, adversarial weight 5e-3 with the category loss on
real and fake images, Adam 1e-4 halved at 50k/100k/150k/200k of 600k updates (`paper`), after an
MSE pre-training of the generator. How `quick` differs is in `budget_notes` (printed on the page).
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
    # The perceptual loss needs torchvision's ImageNet VGG19 ("imagenet" downloads it; where there is no
    # network give a local copy: --set vgg_weights=/data/vgg19-dcbb9e9d.pth), LPIPS its AlexNet (likewise,
    # alexnet-owt-7be5be79.pth); without the AlexNet LPIPS reads n/a.
    train={"vgg_weights": "imagenet", "lpips_weights": "imagenet"},
    # NIQE needs no weights: every row, bicubic and HR get a perceived-quality figure and a place on the
    # perception-distortion plane, with or without ImageNet.
    metrics=["niqe"],
    budgets={"smoke": {"vgg_weights": "random", "lpips_weights": "random"}},
    budget_notes={
        "quick": (
            "the authors' losses and weights (conv5_4 L1 perceptual, adversarial 5e-3, category loss), but 600 MSE + "
            "400 adversarial updates of 16 64x64 patches at a constant 1e-4 instead of 600k of 96x96 patches (halved "
            "from 50k on), to fit a CPU trial; trained on BSDS200 (the authors: their OST outdoor scenes, with DIV2K "
            "for the background class)."
        ),
        "paper": "trained on BSDS200; the authors trained on their OST outdoor scenes, "
        "with DIV2K for the background class.",
    },
    train_set="BSDS200",
)
