"""SRGAN's Table 1 (Ledig et al., CVPR 2017), x4 RGB: content loss MSE vs VGG feature maps
(VGG22 = relu2_2, VGG54 = relu5_4), with and without the 1e-3-weighted adversarial term.

The GAN variants start from an MSE pre-training phase of the same generator (the paper
initialises SRGAN from SRResNet-MSE). VGG losses need ImageNet VGG19 weights
(`vgg_weights`); runs made without them are labelled not comparable.
"""

from srbench.experiment import Experiment

EXPERIMENT = Experiment(
    name="srgan_content_loss",
    description="SRResNet / SRGAN with MSE, VGG22 and VGG54 content losses (x4, RGB)",
    model={"name": "srresnet"},
    scale=4,
    variants={
        "SRResNet-MSE": {"content_loss": "pixel", "adversarial_weight": 0.0, "pretrain_iterations": 0},
        "SRResNet-VGG22": {"content_loss": "vgg22", "adversarial_weight": 0.0},
        "SRGAN-MSE": {"content_loss": "pixel", "adversarial_weight": 1e-3},
        "SRGAN-VGG22": {"content_loss": "vgg22", "adversarial_weight": 1e-3},
        "SRGAN-VGG54": {"content_loss": "vgg54", "adversarial_weight": 1e-3},
    },
    # VGG (content loss) and AlexNet (LPIPS) ImageNet weights: "imagenet" downloads torchvision's
    # files; where there is no network give local copies, e.g. --set vgg_weights=/data/vgg19-dcbb9e9d.pth
    # --set lpips_weights=/data/alexnet-owt-7be5be79.pth. Without AlexNet weights LPIPS reads n/a.
    train={"vgg_weights": "imagenet", "lpips_weights": "imagenet"},
    # NIQE needs no weights: every row, bicubic and HR get a perceived-quality figure and a place on the
    # perception-distortion plane, with or without ImageNet.
    metrics=["niqe"],
    budgets={"smoke": {"vgg_weights": "random", "lpips_weights": "random"}},
    budget_notes={
        "quick": (
            "the paper's losses, weights and value ranges (HR in [-1, 1]), but 64x64 patches and, to fit a CPU trial, "
            "SRResNet for 2,000 updates at 2e-4 with cosine decay and SRGAN for 600 MSE + 400 adversarial updates at "
            "a constant 1e-4, instead of 10^6 + 2x10^5 updates of 96x96 patches; trained on BSDS200 (the paper: "
            "350,000 ImageNet images)."
        ),
        "paper": "trained on BSDS200; the paper trained on 350,000 ImageNet images.",
    },
    train_set="BSDS200",
)
