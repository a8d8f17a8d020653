"""``srbench eval --weights FILE`` without ``--model``: the architecture detected by spandrel from small, seeded,
randomly initialised networks of spandrel's own architecture classes, scored as the same network built by hand."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from spandrel.architectures.Compact import Compact
from spandrel.architectures.ESRGAN import ESRGAN
from spandrel.architectures.RCAN import RCAN
from spandrel.architectures.SwinIR import SwinIR
from torch import nn

from srbench.cli import main
from srbench.data import get_spec
from srbench.evaluate import evaluate_model
from srbench.metrics import quantize
from srbench.models import build_model
from srbench.models.detect import detect_network
from srbench.models.resolve import Given
from srbench.train.checkpoint import save_checkpoint
from srbench.train.inference import SuperResolver

# spandrel's SwinIR calls torch.meshgrid without indexing=, building it here as much as in srbench
pytestmark = pytest.mark.filterwarnings("ignore:torch.meshgrid:UserWarning")

# name -> (builder of the network, its scale, what eval reports, the multiple its input is padded to)
NETWORKS: dict[str, tuple[Callable[[], nn.Module], int, str, int]] = {
    "esrgan": (lambda: ESRGAN(num_filters=8, num_blocks=1, scale=4), 4, "RRDBNet (ESRGAN) x4", 1),
    "swinir": (
        lambda: SwinIR(
            img_size=16,
            embed_dim=12,
            depths=[2],
            num_heads=[2],
            window_size=4,
            mlp_ratio=2.0,
            upscale=2,
            upsampler="pixelshuffle",
        ),
        2,
        "SwinIR x2",
        1,
    ),
    "rcan": (lambda: RCAN(scale=3, n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4), 3, "RCAN x3", 1),
    "compact": (
        lambda: Compact(num_feat=8, num_conv=2, upscale=3),
        3,
        "SRVGGNetCompact (RealESRGAN Compact) x3",
        1,
    ),
    # Real-ESRGAN x2's layout: x4 behind a 2x pixel-unshuffle; Set5's woman (114 x 172 LR) is padded to 116 x 172
    "esrgan-unshuffle": (
        lambda: ESRGAN(in_nc=12, out_nc=3, num_filters=8, num_blocks=1, scale=4, shuffle_factor=2),
        2,
        "RRDBNet (ESRGAN) x2",
        4,
    ),
}


# how errors would name the file (eval's wording; tests/test_bench.py checks bench's)
GIVEN = Given("--weights w.pth", "--model m", "--model NAME --weights w.pth")


def _build(name: str) -> nn.Module:
    torch.manual_seed(0)
    return NETWORKS[name][0]().eval()


def _by_hand(network: nn.Module, multiple: int) -> Callable[[torch.Tensor, int, str], torch.Tensor]:
    """``super_resolve`` written out: RGB in [0, 1], reflect-padded to ``multiple`` as spandrel pads, the output
    clamped to [0, 1] (spandrel's range) and cropped to ``scale`` x the LR image."""

    @torch.no_grad()
    def super_resolve(lr: torch.Tensor, scale: int, _name: str) -> torch.Tensor:
        x = lr[None].float() / 255
        h, w = x.shape[-2:]
        x = F.pad(x, (0, -w % multiple, 0, -h % multiple), mode="reflect")
        out = network(x).clamp(0, 1)[0, :, : h * scale, : w * scale]
        return quantize(out.double() * 255)

    return super_resolve


def _eval_json(args: list[str], capsys) -> tuple[list[dict], str]:
    code = main(["eval", "--sets", "Set5", "--json", *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)["results"], captured.err


def _figures(row: dict) -> dict[str, float]:
    return {k: row[k] for k in ("psnr_y", "ssim_y", "psnr_rgb")}


@pytest.mark.parametrize("name", NETWORKS)
def test_eval_detects_the_architecture_and_scores_it_as_the_network_built_by_hand(name, tmp_path, capsys, data_root):
    _, scale, reported, multiple = NETWORKS[name]
    network = _build(name)
    torch.save(network.state_dict(), tmp_path / "w.pth")
    [row], err = _eval_json(["--weights", str(tmp_path / "w.pth"), "--scales", str(scale)], capsys)
    assert f"detected {reported}, 3 -> 3 channels" in err and row["scale"] == scale
    [expected] = evaluate_model(_by_hand(network, multiple), [get_spec("Set5")], [scale], data_root, download=False)
    assert _figures(row) == pytest.approx(_figures(expected.as_dict()), rel=1e-9)


def test_the_scale_defaults_to_the_detected_one_and_safetensors_load(tmp_path, capsys, data_root):
    network = _build("compact")
    save_file(network.state_dict(), str(tmp_path / "w.safetensors"))
    [row], err = _eval_json(["--weights", str(tmp_path / "w.safetensors")], capsys)
    assert "detected SRVGGNetCompact (RealESRGAN Compact) x3" in err and row["scale"] == 3
    [expected] = evaluate_model(_by_hand(network, 1), [get_spec("Set5")], [3], data_root, download=False)
    assert _figures(row) == pytest.approx(_figures(expected.as_dict()), rel=1e-9)


class _YNetwork(nn.Module):
    """The same Y network as srbench's own Y networks declare themselves, with spandrel's output range."""

    in_channels = 1

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x).clamp(0, 1)


def test_a_one_channel_network_scores_the_y_channel(tmp_path, capsys, data_root):
    torch.manual_seed(0)
    network = Compact(num_in_ch=1, num_out_ch=1, num_feat=8, num_conv=2, upscale=2).eval()
    torch.save(network.state_dict(), tmp_path / "y.pth")
    [row], err = _eval_json(["--weights", str(tmp_path / "y.pth")], capsys)
    assert "x2, 1 -> 1 channels" in err
    resolver = SuperResolver(_YNetwork(network))
    [expected] = evaluate_model(resolver, [get_spec("Set5")], [2], data_root, download=False)
    assert _figures(row) == pytest.approx(_figures(expected.as_dict()), rel=1e-9)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"params_ema": sd, "params": {k: torch.zeros_like(v) for k, v in sd.items()}},  # BasicSR
        lambda sd: {"state_dict": sd, "epoch": 3},
        lambda sd: {"model": sd},
    ],
)
def test_the_usual_wrappers_are_unwrapped(wrap, tmp_path):
    state = _build("compact").state_dict()
    torch.save(wrap(state), tmp_path / "w.pth")
    network, found = detect_network(tmp_path / "w.pth", GIVEN)
    assert found.scale == 3 and found.parameters == sum(v.numel() for v in state.values())
    assert all(torch.equal(network.network.state_dict()[k], v) for k, v in state.items())


def test_an_srbench_checkpoint_is_unwrapped(tmp_path):
    state = _build("rcan").state_dict()
    save_checkpoint({"model": state, "config": {}, "iteration": 1}, tmp_path / "last.pt")
    network, found = detect_network(tmp_path / "last.pt", GIVEN)
    assert str(found).startswith("RCAN x3, 3 -> 3 channels, 8.1k parameters")
    assert all(torch.equal(network.network.state_dict()[k], v) for k, v in state.items())


@pytest.mark.parametrize("name", ["swinir", "esrgan-unshuffle"])
def test_the_network_meets_spandrels_size_requirements_on_any_input(name, tmp_path):
    """SwinIR's minimum side (16) and an unshuffle's multiple (4): padded, then cropped back."""
    torch.save(_build(name).state_dict(), tmp_path / "w.pth")
    network, found = detect_network(tmp_path / "w.pth", GIVEN)
    with torch.no_grad():
        assert network(torch.rand(1, 3, 5, 7)).shape == (1, 3, 5 * found.scale, 7 * found.scale)


def _refused(args: list[str], capsys, message: str) -> None:
    code = main(["eval", "--sets", "Set5", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_a_file_spandrel_does_not_recognise_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    torch.save({"encoder.weight": torch.zeros(4, 3, 3, 3)}, tmp_path / "odd.pth")
    _refused(
        ["--weights", "odd.pth"],
        capsys,
        "spandrel could not detect the architecture of --weights odd.pth; name the network: "
        "--model NAME|package.module:Callable --weights odd.pth",
    )


def test_a_pickled_network_is_refused_unread(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    torch.save(_build("compact"), tmp_path / "whole.pth")  # the module itself: loading it would run its classes
    _refused(
        ["--weights", "whole.pth"],
        capsys,
        "--weights whole.pth holds pickled objects besides tensors, which would need unpickling (running code from "
        "the file) and srbench refuses that; re-save it as a plain state dict",
    )


def test_a_scale_other_than_the_detected_one_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    torch.save(_build("compact").state_dict(), tmp_path / "x3.pth")
    _refused(
        ["--weights", "x3.pth", "--scales", "2,4"],
        capsys,
        "--weights x3.pth holds a x3 network (SRVGGNetCompact (RealESRGAN Compact)), but --scales asks for 2,4",
    )


def test_a_network_that_does_not_upscale_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    torch.save(Compact(num_feat=8, num_conv=2, upscale=1).state_dict(), tmp_path / "x1.pth")
    _refused(
        ["--weights", "x1.pth"],
        capsys,
        "--weights x1.pth holds a SRVGGNetCompact (RealESRGAN Compact) Restoration model, not a super-resolution one",
    )


def test_model_takes_safetensors_weights_too(tmp_path, capsys, data_root):
    torch.manual_seed(0)
    network = build_model({"name": "srcnn"})
    save_file(network.state_dict(), str(tmp_path / "srcnn.safetensors"))
    torch.save(network.state_dict(), tmp_path / "srcnn.pth")
    runs = [
        _eval_json(["--model", "srcnn", "--weights", str(tmp_path / f"srcnn.{ext}"), "--scales", "3"], capsys)[0]
        for ext in ("safetensors", "pth")
    ]
    assert runs[0] == runs[1]
