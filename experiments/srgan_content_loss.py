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
    # The VGG feature extractor: "imagenet" downloads torchvision's weights; give a path to a
    # local vgg19-dcbb9e9d.pth where there is no network.
    train={"vgg_weights": "imagenet"},
    budgets={"smoke": {"vgg_weights": "random"}},
    train_set="BSDS200",
)
