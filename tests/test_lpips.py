"""LPIPS (AlexNet v0.1) against the lpips package itself, on real images, and its weight settings."""

from __future__ import annotations

import lpips
import pytest
import torch
import torchvision

from srbench.degrade import bicubic_lr, imresize, modcrop
from srbench.errors import UserError
from srbench.evaluate import SetScore, default_scorers, format_table, score_pairs
from srbench.metrics import choose, prepare
from srbench.metrics.lpips import LPIPS


@pytest.fixture(scope="module")
def bicubic_x4(set5):
    return [(imresize(bicubic_lr(hr, 4), scale=4), modcrop(hr, 4)) for _, hr in set5[:2]]


def test_equals_the_lpips_package_with_the_same_trunk(bicubic_x4):
    metric = LPIPS("random")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the package builds its (random) AlexNet trunk first: the same weights as ours
        reference = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False).eval()
    for sr, hr in bicubic_x4:
        ours = metric(sr[None], hr[None], shave=4)
        with torch.no_grad():
            expected = reference(
                sr[None, :, 4:-4, 4:-4].float() / 127.5 - 1, hr[None, :, 4:-4, 4:-4].float() / 127.5 - 1
            )
        assert ours.shape == (1,) and ours.item() == pytest.approx(expected.item(), rel=1e-5)
        assert ours.item() > 0 and metric(hr[None], hr[None]).item() == 0
    assert not metric.imagenet and "not comparable" in metric.label


def test_local_trunk_file_is_loaded_into_every_layer(tmp_path):
    torch.manual_seed(3)
    trunk = torchvision.models.alexnet(weights=None)
    path = tmp_path / "alexnet-mine.pth"
    torch.save(trunk.state_dict(), path)
    metric = LPIPS(str(path))
    loaded = metric.net.net.state_dict()
    assert len(loaded) == 10  # 5 conv layers, weight and bias
    for name, value in loaded.items():
        assert torch.equal(value, trunk.features.state_dict()[name.split(".", 1)[1]])
    assert not metric.imagenet and "file alexnet-mine.pth (not torchvision's ImageNet file" in metric.label


def test_bad_weights_settings_name_the_field(tmp_path):
    with pytest.raises(UserError, match="field 'lpips_weights': '/no/such.pth' is neither 'imagenet', 'random' nor"):
        LPIPS("/no/such.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(UserError, match="junk.pth is not a PyTorch checkpoint") as junk:
        LPIPS(str(tmp_path / "junk.pth"))
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="other.pth is not a state dict of alexnet-owt-7be5be79.pth") as other:
        LPIPS(str(tmp_path / "other.pth"))
    assert "\n" not in str(junk.value) + str(other.value)  # one line each, torch's advice on pickles not among them


def test_scoring_adds_lpips_per_image(bicubic_x4):
    metric = LPIPS("random")
    settings = {"lpips_weights": "random"}
    scorers = prepare(choose([], settings), settings)
    assert [s.name for s in scorers] == ["psnr_y", "ssim_y", "psnr_rgb", "lpips"] and scorers[3].note == metric.label
    rows = score_pairs([(f"image{i}", sr, hr) for i, (sr, hr) in enumerate(bicubic_x4)], 4, scorers)
    expected = [metric(sr[None], hr[None], 4).item() for sr, hr in bicubic_x4]
    assert [row["lpips"] for row in rows] == pytest.approx(expected)
    assert "lpips" not in score_pairs([("image0", *bicubic_x4[0])], 4, default_scorers())[0]
    figures = {"psnr_y": 28.0, "ssim_y": 0.8, "psnr_rgb": 27.0, "lpips": 0.0123}
    table = format_table([SetScore("Set5", 4, 2, figures, rows)], "t").splitlines()
    assert table[1].endswith("LPIPS") and table[2].endswith("0.0123")
