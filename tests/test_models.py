"""Model zoo: shapes, hand-computed parameter counts, SFT ablation, real overfitting, clear config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srbench.degrade import imresize
from srbench.errors import UserError
from srbench.losses import PerceptualLoss, discriminator_loss, generator_adversarial_loss, total_variation
from srbench.metrics import rgb_to_y
from srbench.models import MODELS, build_model, count_parameters, macs_per_output_megapixel, resolve_config
from srbench.models.conditions import ColourTextureClusters, build_condition_source
from srbench.models.vgg import LAYERS, VGGFeatures


def n_conv(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out + c_out


@pytest.mark.parametrize(
    "config,lr_side,out_side",
    [
        ({"name": "srcnn"}, 33, 21),  # 'valid': 33 - 8 - 0 - 4
        ({"name": "srcnn", "padding": "same"}, 33, 33),
        ({"name": "srcnn", "variant": "9-3-3-3-5"}, 40, 40 - 8 - 2 - 2 - 2 - 4),
        *[({"name": "srdensenet", "variant": v, "scale": s}, 6, 6 * s) for v in ("H", "HL", "ALL") for s in (2, 3, 4)],
        *[({"name": "srresnet", "scale": s}, 7, 7 * s) for s in (2, 3, 4)],
        ({"name": "sftgan"}, 6, 24),
        ({"name": "sftgan", "variant": "nosft"}, 6, 24),
    ],
)
def test_output_shapes(config, lr_side, out_side):
    model = build_model(config)
    x = torch.rand(2, model.in_channels, lr_side, lr_side)
    args = (
        (x, torch.rand(2, 8, lr_side * 4, lr_side * 4).softmax(1)) if getattr(model, "needs_condition", False) else (x,)
    )
    assert model(*args).shape == (2, model.in_channels, out_side, out_side)


@pytest.mark.parametrize(
    "name,size", [("srgan_discriminator", 96), ("srgan_discriminator", 40), ("sftgan_discriminator", 96)]
)
def test_discriminators_give_one_logit_per_image_at_any_size(name, size):
    out = build_model({"name": name})(torch.rand(3, 3, size, size))
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape == (3,)
    if isinstance(out, tuple):
        assert out[1].shape == (3, 8)


def test_parameter_counts_match_hand_computation():
    assert count_parameters(build_model({"name": "srcnn"})) == 8129  # the paper's 9-1-5, 64/32, Y
    assert count_parameters(build_model({"name": "srcnn", "variant": "9-5-5"})) == n_conv(9, 1, 64) + n_conv(
        5, 64, 32
    ) + n_conv(5, 32, 1)
    assert count_parameters(build_model({"name": "srcnn", "in_channels": 3})) == n_conv(9, 3, 64) + n_conv(
        1, 64, 32
    ) + n_conv(5, 32, 3)

    block = sum(n_conv(3, 128 + 16 * j, 16) for j in range(8))
    tail = n_conv(3, 256, 256) + n_conv(3, 256, 1)  # x4: the second deconvolution, reconstruction
    low = n_conv(3, 1, 128)
    # Only ALL has the 1x1 bottleneck (Tong et al., Sec. 3.3): H and HL feed their 128 / 256 maps to the deconvolution.
    assert (
        count_parameters(build_model({"name": "srdensenet", "variant": "H"}))
        == low + 8 * block + n_conv(3, 128, 256) + tail
    )
    assert (
        count_parameters(build_model({"name": "srdensenet", "variant": "HL"}))
        == low + 8 * block + n_conv(3, 256, 256) + tail
    )
    assert count_parameters(build_model({"name": "srdensenet", "variant": "ALL"})) == (
        low + 8 * block + n_conv(1, 9 * 128, 256) + n_conv(3, 256, 256) + tail
    )

    res_block = 2 * n_conv(3, 64, 64) + 2 * 2 * 64 + 64  # two convs, two BNs, one PReLU
    srresnet = (
        (n_conv(9, 3, 64) + 64)
        + 16 * res_block
        + (n_conv(3, 64, 64) + 128)
        + 2 * (n_conv(3, 64, 256) + 64)
        + n_conv(9, 64, 3)
    )
    assert count_parameters(build_model({"name": "srresnet"})) == srresnet == 1_550_659


def test_sft_on_and_off_share_the_backbone_and_differ_only_in_conditioning():
    on = dict(build_model({"name": "sftgan", "variant": "sft"}).named_parameters())
    off = dict(build_model({"name": "sftgan", "variant": "nosft"}).named_parameters())
    assert set(off) < set(on)
    assert all(n.startswith("condition.") or "sft" in n for n in set(on) - set(off))
    assert all(on[n].shape == off[n].shape for n in off)


def test_macs_per_megapixel_are_exact_for_a_same_padded_srcnn():
    model = build_model({"name": "srcnn", "padding": "same"})
    assert macs_per_output_megapixel(model, 3) == pytest.approx((81 * 64 + 64 * 32 + 25 * 32) * 1e6)


@pytest.fixture(scope="module")
def patch_pair(set5):
    hr = set5[2][1][:, 100:132, 100:132]  # butterfly: strong edges
    lr = imresize(hr, scale=1 / 4)
    rgb = {"hr": hr[None].float() / 255, "lr": lr[None].float() / 255}
    y = {k: rgb_to_y(v[None] if v.dim() == 3 else v).float() / 255 for k, v in (("hr", hr[None]), ("lr", lr[None]))}
    y["bicubic"] = imresize(y["lr"], scale=4)
    return rgb, y


@pytest.mark.parametrize(
    "config,lr",
    [
        ({"name": "srcnn"}, 1e-3),
        ({"name": "srcnn", "variant": "9-3-3-3-5", "padding": "same"}, 1e-3),
        ({"name": "srdensenet", "variant": "ALL"}, 1e-4),
        ({"name": "srresnet"}, 1e-3),
        ({"name": "sftgan"}, 1e-4),
        ({"name": "sftgan", "variant": "nosft"}, 1e-4),
    ],
)
def test_generators_overfit_one_patch_pair(patch_pair, config, lr):
    torch.manual_seed(0)
    rgb, y = patch_pair
    model = build_model(config)
    if config["name"] == "srcnn":
        x, target = y["bicubic"], y["hr"]
    else:
        x, target = (rgb["lr"], rgb["hr"]) if model.in_channels == 3 else (y["lr"], y["hr"])
    b = getattr(model, "border", 0)
    target = target[..., b : target.shape[-2] - b, b : target.shape[-1] - b]
    cond = (ColourTextureClusters()(rgb["hr"]),) if getattr(model, "needs_condition", False) else ()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(40):
        loss = F.mse_loss(model(x, *cond), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 5, losses[::10]


@pytest.mark.parametrize("name", ["srgan_discriminator", "sftgan_discriminator"])
def test_discriminators_learn_to_tell_one_real_patch_from_one_fake(patch_pair, name):
    torch.manual_seed(0)
    rgb, _ = patch_pair
    real, fake = rgb["hr"], imresize(rgb["lr"], scale=4).clamp(0, 1)
    model = build_model({"name": name, "base": 16})
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    losses = []
    for _ in range(30):
        logits = [model(t) for t in (real, fake)]
        logits = [o[0] if isinstance(o, tuple) else o for o in logits]
        loss = discriminator_loss(*logits)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 5, losses[::10]


@pytest.mark.parametrize(
    "config,fragments",
    [
        ({"name": "edsr"}, ["unknown model 'edsr'", "srcnn"]),
        ({"name": "srcnn", "variant": "9-7-5"}, ["unknown variant '9-7-5'", "9-5-5"]),
        ({"name": "srdensenet", "variant": "LH"}, ["unknown variant 'LH'", "ALL"]),
        ({"name": "srcnn", "kernel_sizes": [9, 4, 5]}, ["field 'kernel_sizes'", "odd"]),
        ({"name": "srcnn", "kernel_sizes": [9, 1, 5], "channels": [64]}, ["field 'channels'"]),
        ({"name": "srcnn", "padding": "reflect"}, ["field 'padding'", "valid, same"]),
        ({"name": "srcnn", "filters": 64}, ["unknown field 'filters'", "kernel_sizes"]),
        ({"name": "sftgan", "scale": 2}, ["field 'scale' = 2 is not supported", "4"]),
        ({"name": "srdensenet", "scale": 8}, ["field 'scale' = 8"]),
        ({"name": "sftgan", "condition": {"source": "magic"}}, ["field 'source' = 'magic'", "colour_texture"]),
        ({"variant": "9-1-5"}, ["neither 'name' nor 'builder'"]),
    ],
)
def test_bad_configs_raise_one_clear_error(config, fragments):
    with pytest.raises(UserError) as err:
        build_model(config)
    assert "\n" not in str(err.value)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_resolved_config_records_variant_fields_and_overrides():
    cfg = resolve_config({"name": "srcnn", "variant": "9-3-5", "channels": [128, 64]})
    assert cfg == {"name": "srcnn", "variant": "9-3-5", "kernel_sizes": [9, 3, 5], "channels": [128, 64]}
    assert resolve_config({"name": "sftgan"})["variant"] == "sft"
    assert build_model({"name": "sftgan"}).condition_config == {"source": "colour_texture"}
    assert {"srcnn", "srdensenet", "srresnet", "srgan_discriminator", "sftgan", "sftgan_discriminator"} <= set(MODELS)


def test_vgg_layers_names_and_bad_layer():
    assert LAYERS[:4] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2"] and "relu5_4" in LAYERS and "pool5" in LAYERS
    vgg = VGGFeatures(["relu2_2", "conv5_4", "relu5_4"], vgg_weights="random")
    out = vgg(torch.rand(1, 3, 64, 64))
    assert out["relu2_2"].shape == (1, 128, 32, 32) and out["relu5_4"].shape == (1, 512, 4, 4)
    assert (out["conv5_4"] < 0).any() and (out["relu5_4"] >= 0).all()
    assert not vgg.imagenet and "not comparable" in vgg.weights_label
    with pytest.raises(UserError, match="unknown VGG19 layer 'relu6_1'"):
        VGGFeatures(["relu6_1"], vgg_weights="random")
    with pytest.raises(UserError, match="field 'vgg_weights'"):
        VGGFeatures(["relu2_2"], vgg_weights="/no/such/vgg19.pth")


def test_weights_setting_shape_is_checked_without_opening_the_file():
    from srbench.models.pretrained import check_setting

    for setting in ("imagenet", "random", "/shared/vgg19-dcbb9e9d.pth", "vgg19.pt", "weights/vgg19"):
        check_setting("vgg_weights", setting)  # a path is only opened where the trial runs
    with pytest.raises(UserError, match="field 'vgg_weights' = 'imagnet': valid: imagenet, random, or the path of"):
        check_setting("vgg_weights", "imagnet")
    with pytest.raises(UserError, match="field 'lpips_weights' = 'off': valid: none, imagenet, random"):
        check_setting("lpips_weights", "off", ("none", "imagenet", "random"))


def test_vgg_local_weights_file_loads_and_is_marked_by_its_hash(tmp_path):
    import torchvision

    path = tmp_path / "vgg19-mine.pth"
    torch.save(torchvision.models.vgg19(weights=None).state_dict(), path)
    vgg = VGGFeatures(["relu2_2"], vgg_weights=str(path))
    assert not vgg.imagenet and "vgg19-mine.pth" in vgg.weights_label and "not comparable" in vgg.weights_label


def test_losses(patch_pair):
    rgb, _ = patch_pair
    perceptual = PerceptualLoss(["relu2_2"], vgg_weights="random")
    sr = imresize(rgb["lr"], scale=4).requires_grad_()
    assert perceptual(rgb["hr"], rgb["hr"]).item() == 0
    loss = perceptual(sr, rgb["hr"])
    loss.backward()
    assert loss.item() > 0 and sr.grad.abs().sum() > 0 and not perceptual.comparable
    assert generator_adversarial_loss(torch.tensor([10.0])) < generator_adversarial_loss(torch.tensor([-10.0]))
    assert total_variation(torch.ones(1, 3, 8, 8)) == 0 and total_variation(rgb["hr"]) > 0


def test_condition_sources(tmp_path, patch_pair):
    rgb, _ = patch_pair
    maps = ColourTextureClusters()(rgb["hr"])
    assert maps.shape == (1, 8, 32, 32) and torch.allclose(maps.sum(1), torch.ones(1, 32, 32), atol=1e-5)
    assert torch.equal(maps, ColourTextureClusters()(rgb["hr"]))  # deterministic
    assert not build_condition_source(None).semantic and "not semantic" in build_condition_source(None).describe()

    np.save(tmp_path / "butterfly.npy", maps[0].numpy())
    source = build_condition_source({"source": "folder", "path": str(tmp_path)})
    assert torch.equal(source(rgb["hr"], ["butterfly.png"]), maps)
    with pytest.raises(UserError, match="no bird.npy or bird.pt"):
        source(rgb["hr"], ["bird.png"])

    seg = build_condition_source({"source": "torchvision", "arch": "lraspp_mobilenet_v3_large", "weights": "random"})
    probs = seg(rgb["hr"])
    assert probs.shape == (1, 8, 32, 32) and torch.allclose(probs.sum(1), torch.ones(1, 32, 32), atol=1e-5)
    assert (probs[:, 1:6] == 0).all()  # VOC has no sky/water/grass/mountain/building
    assert "random weights, not semantic" in seg.describe()
