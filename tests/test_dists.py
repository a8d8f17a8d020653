"""DISTS against the authors' dists-pytorch with the same VGG16 trunk, its weight settings and labels, and eval."""

from __future__ import annotations

import json
import shutil
import urllib.error

import pytest
import torch
import torchvision

from srbench.cli import main
from srbench.data import save_png
from srbench.degrade import bicubic_lr, imresize, modcrop
from srbench.errors import UserError
from srbench.metrics import dists, get_metric
from srbench.metrics.dists import CHANNELS, DISTS, VGG16
from srbench.models.pretrained import load_pretrained
from srbench.train.config import config_from_dict, config_hash, make_config

reference = pytest.importorskip("DISTS_pytorch.DISTS_pt", reason="dists-pytorch: pip install -e '.[test]'")
TRUNK_FILES = {"DISTS": "vgg16-397923af.pth", "LPIPS": "alexnet-owt-7be5be79.pth"}


@pytest.fixture(scope="module")
def uniform():
    """DISTS on the random trunk with uniform alpha/beta, as where dists-pytorch is not installed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dists, "_package_alpha_beta", lambda: None)
        return DISTS("random")


@pytest.fixture(scope="module")
def learned():
    """DISTS on the random trunk with the package's alpha/beta."""
    return DISTS("random")


@pytest.fixture(scope="module")
def bicubic_x4(set5):
    """Set5's bird (288x288) and its bicubic x4 whole, and a batch of 96x96 crops of the first two images and theirs."""
    pairs = [(imresize(bicubic_lr(hr, 4), scale=4), modcrop(hr, 4)) for _, hr in set5[:2]]
    batch = tuple(torch.stack([x[:, :96, :96] for x in side]) for side in zip(*pairs))
    return pairs[1], batch


@pytest.fixture(scope="module")
def trunk():
    return load_pretrained(VGG16, "random")[0]  # the same seeded weights as DISTS("random")'s


def _reference(monkeypatch, trunk: torch.nn.Module, learned: bool) -> torch.nn.Module:
    """dists-pytorch's DISTS on srbench's seeded random VGG16 (the package would download ImageNet's), with the
    package's alpha/beta or uniform ones."""
    monkeypatch.setattr(reference.models, "vgg16", lambda **_: trunk)
    model = reference.DISTS(load_weights=False).eval()
    table = torch.load(dists._package_alpha_beta(), weights_only=True)
    model.alpha.data, model.beta.data = (table[k] if learned else torch.ones(1, 1475, 1, 1) for k in ("alpha", "beta"))
    return model


@pytest.mark.parametrize("alpha_beta", ["learned", "uniform"])
def test_equals_dists_pytorch_with_the_same_weights(request, monkeypatch, trunk, bicubic_x4, alpha_beta):
    metric = request.getfixturevalue(alpha_beta)
    model = _reference(monkeypatch, trunk, alpha_beta == "learned")
    whole, (sr_batch, hr_batch) = bicubic_x4
    for sr, hr in [whole, (sr_batch, hr_batch)]:
        ours = metric(sr.reshape(-1, *sr.shape[-3:]), hr.reshape(-1, *hr.shape[-3:]), shave=4)
        with torch.no_grad():
            expected = model(*(x.reshape(-1, *x.shape[-3:])[..., 4:-4, 4:-4].float() / 255 for x in (sr, hr)))
        assert ours.shape == (len(sr) if sr.dim() == 4 else 1,)
        assert ours.tolist() == pytest.approx(expected.reshape(-1).tolist(), abs=1e-6)
    assert (metric(hr_batch, hr_batch) < 1e-6).all() and (metric(sr_batch, hr_batch) > 1e-3).all()


def test_labels_say_what_is_not_comparable(learned, uniform, tmp_path):
    assert (
        learned.label == ("DISTS VGG16, trunk random (not ImageNet: not comparable), alpha/beta dists-pytorch 0.1")
        and not learned.imagenet
    )
    assert uniform.label.endswith("alpha/beta uniform (not DISTS's: not comparable)")
    package = dists._package_alpha_beta()
    shutil.copy(package, tmp_path / "weights.pt")  # a local copy is recognised by its hash
    assert dists._alpha_beta(str(tmp_path / "weights.pt"), "imagenet")[1] == "alpha/beta dists-pytorch 0.1"
    table = torch.load(package, weights_only=True)
    torch.save({"alpha": table["alpha"] * 2, "beta": table["beta"]}, tmp_path / "mine.pt")
    weights, label = dists._alpha_beta(str(tmp_path / "mine.pt"), "imagenet")
    assert label == "alpha/beta file mine.pt (not dists-pytorch 0.1's weights.pt: not comparable)"
    assert torch.equal(weights[0], table["alpha"].flatten() * 2)


def test_bad_weights_settings_are_one_line_naming_the_field(tmp_path, monkeypatch):
    torch.save({"alpha": torch.ones(3), "beta": torch.ones(3)}, tmp_path / "short.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    for setting, message in [
        ("random,/no/such.pt", "field 'dists_weights': alpha/beta file /no/such.pt does not exist"),
        (f"random,{tmp_path}/junk.pt", "junk.pt is not DISTS's weights.pt \\(a dict of 'alpha' and 'beta', 1475"),
        (f"random,{tmp_path}/short.pt", "short.pt holds 3 alpha and beta values; DISTS has 1475"),
        ("/no/vgg16.pth", "field 'dists_weights': '/no/vgg16.pth' is neither 'imagenet', 'random' nor"),
    ]:
        with pytest.raises(UserError, match=message) as err:
            DISTS(setting)
        assert "\n" not in str(err.value)
    monkeypatch.setattr(dists, "_package_alpha_beta", lambda: None)
    with pytest.raises(UserError, match="alpha/beta weights are missing: pip install dists-pytorch, or name a local"):
        DISTS("imagenet")  # refused before any download: uniform weights would make another metric


def test_registered_as_a_perceptual_metric_lower_is_better():
    metric = get_metric("dists")
    assert (metric.label, metric.arrow, metric.digits, metric.perceptual) == ("DISTS", "↓", 4, True)
    assert (metric.weights.option, metric.weights.unavailable) == ("dists_weights", "n/a: no ImageNet weights")
    assert sum(CHANNELS) == 1475


@pytest.fixture
def small_set(tmp_path, set5):
    """A folder set of two 96x96 Set5 crops: eval runs in seconds."""
    folder = tmp_path / "crops"
    folder.mkdir()
    for name, hr in set5[:2]:
        save_png(hr[:, :96, :96].contiguous(), folder / name)
    return f"folder:{folder}"


def test_eval_scores_dists_per_set_and_image_and_labels_it(capsys, data_root, set5, small_set, learned):
    args = ["eval", "bicubic", "--sets", small_set, "--scales", "4", "--metrics", "dists", "--json"]
    assert main([*args, "--dists-weights", "random", "--data-root", str(data_root)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dists"] == learned.label
    crops = [hr[:, :96, :96] for _, hr in set5[:2]]
    (result,) = out["results"]
    assert [row["dists"] for row in result["per_image"]] == pytest.approx(
        [learned(imresize(bicubic_lr(hr, 4), scale=4)[None], hr[None], 4).item() for hr in crops]
    )
    assert result["dists"] == pytest.approx(sum(r["dists"] for r in result["per_image"]) / 2)


@pytest.mark.parametrize("metric, flag", [("DISTS", "--dists-weights"), ("LPIPS", "--lpips-weights")])
def test_eval_without_imagenet_weights_says_so_in_one_line_and_scores_the_rest(
    capsys, monkeypatch, data_root, small_set, metric, flag
):
    def offline(*_args, **_kwargs):
        print('Downloading: "https://download.pytorch.org/models/..."')  # torch.hub's announcement, on stdout
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torchvision.models, "get_model", offline)
    args = ["eval", "bicubic", "--sets", small_set, "--scales", "4", flag, "imagenet", "--json"]
    assert main([*args, "--data-root", str(data_root)]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)  # stdout is the JSON alone
    field = flag[2:].replace("-", "_")
    assert [line for line in captured.err.splitlines() if not line.startswith("scoring ")] == [
        f"warning: {metric} will not be scored: cannot download ImageNet weights for {field} (URLError: <urlopen "
        f"error Name or service not known>); set {field} to a local copy of torchvision's {TRUNK_FILES[metric]}, "
        "or 'random' for tests (results then not comparable)"
    ]
    assert out[metric.lower()] == "n/a: no ImageNet weights" and metric.lower() not in out["results"][0]
    assert out["results"][0]["psnr_y"] > 20


def test_a_trial_chooses_dists_weights_outside_its_configuration_hash():
    plain = make_config({"name": "srcnn"}, 3, "smoke")
    config = make_config({"name": "srcnn"}, 3, "smoke", dists_weights="random,/data/weights.pt")
    assert [m.name for m in config.scored_metrics()][-1] == "dists" and config_hash(config) == config_hash(plain)
    saved = {k: v for k, v in plain.to_dict().items() if k != "dists_weights"}  # a checkpoint from before the field
    assert config_from_dict(saved, "old.pt").dists_weights == "none"
    with pytest.raises(UserError, match="field 'dists_weights' = 'imagnet': valid: none, imagenet, random"):
        make_config({"name": "srcnn"}, 3, "smoke", dists_weights="imagnet,/data/weights.pt")
