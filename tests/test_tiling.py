"""Tiled inference (:mod:`srbench.tiling`): for convolutional networks whose receptive field the overlap covers, the
tiles stitch into exactly the whole-image output, with no seams; ``eval --tile`` scores what ``eval`` does."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from srbench.cli import main
from srbench.degrade import bicubic_lr
from srbench.models import build_model
from srbench.models.interface import traits
from srbench.tiling import Tiling, run_tiled, spans
from srbench.train.inference import SuperResolver

ATOL = 1e-5


class ShuffleSR(nn.Module):
    """A small LR-input network with a pixel-shuffle upsampler; receptive field radius 3 LR pixels."""

    def __init__(self, scale: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 3 * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _srcnn(padding: str) -> nn.Module:
    torch.manual_seed(0)
    return build_model({"name": "srcnn", "padding": padding, "init_std": 0.1}).eval()  # big enough to matter


def _shuffle() -> nn.Module:
    torch.manual_seed(0)
    return ShuffleSR(3).eval()


NETWORKS = {  # name -> (network, output pixels per input pixel)
    "srcnn-same": (lambda: _srcnn("same"), 1),
    "srcnn-valid": (lambda: _srcnn("valid"), 1),
    "pixel-shuffle": (_shuffle, 3),
}


def _whole_and_tiled(name: str, height: int, width: int, tiling: Tiling) -> tuple[torch.Tensor, torch.Tensor, int]:
    net, scale = NETWORKS[name]
    model = net()
    t = traits(model)
    torch.manual_seed(1)
    x = torch.rand(1, t.channels, height + 2 * t.border, width + 2 * t.border)
    with torch.no_grad():
        return model(x), run_tiled(model, x, scale, tiling, t.border), scale


@pytest.mark.parametrize("size, step", [(10, 4), (11, 4), (4, 4), (3, 8), (100, 1)])
@pytest.mark.parametrize("overlap", [0, 2, 5])
def test_spans_partition_the_axis_and_give_each_core_its_context(size, step, overlap):
    tile = step + 2 * overlap
    parts = spans(size, tile, overlap)
    assert [c for _, _, c, _ in parts] == list(range(0, size, step)) and parts[-1][3] == size
    for start, end, core_start, core_end in parts:
        assert 0 <= start <= core_start < core_end <= end <= size
        assert end - start == min(tile, size)
        assert core_start - start >= overlap or start == 0
        assert end - core_end >= overlap or end == size


@pytest.mark.parametrize("name", list(NETWORKS))
@pytest.mark.parametrize(
    "height, width, tiling",
    [
        (37, 53, Tiling(16, 6)),  # sizes divisible by neither the tile nor its core
        (45, 30, Tiling(20, 8)),
        (37, 53, Tiling(128, 8)),  # one tile larger than the image
        (40, 9, Tiling(24, 7)),  # one axis narrower than a tile
    ],
)
def test_tiled_output_equals_whole_image_output(name, height, width, tiling):
    whole, tiled, scale = _whole_and_tiled(name, height, width, tiling)
    assert tiled.shape == whole.shape == (1, whole.shape[1], height * scale, width * scale)
    assert whole.abs().max() > 0.1  # the weights make a difference worth checking
    torch.testing.assert_close(tiled, whole, atol=ATOL, rtol=0)


def _seam_difference(name: str, tiling: Tiling) -> float:
    """The largest difference between tiled and whole-image output on the rows and columns either side of the
    tiles' seams."""
    height, width = 47, 61
    whole, tiled, scale = _whole_and_tiled(name, height, width, tiling)
    diff = (tiled - whole).abs()[0].amax(0)
    rows = {s * scale + d for _, _, s, _ in spans(height, tiling.tile, tiling.overlap)[1:] for d in (-1, 0)}
    cols = {s * scale + d for _, _, s, _ in spans(width, tiling.tile, tiling.overlap)[1:] for d in (-1, 0)}
    assert rows and cols
    return max(diff[sorted(rows)].max().item(), diff[:, sorted(cols)].max().item())


@pytest.mark.parametrize("name", ["srcnn-same", "pixel-shuffle"])
def test_seams_are_invisible_when_the_overlap_covers_the_receptive_field(name):
    assert _seam_difference(name, Tiling(20, 6)) <= ATOL
    assert _seam_difference(name, Tiling(20, 0)) > 1e-3  # the check sees seams where there are some


def test_a_valid_padded_network_needs_no_overlap():
    assert _seam_difference("srcnn-valid", Tiling(20, 0)) <= ATOL  # its border pad is all the context it needs


def test_condition_maps_are_cut_with_the_tiles():
    torch.manual_seed(0)
    model = build_model({"name": "sftgan", "blocks": 1, "channels": 8}).eval()
    x = torch.rand(1, 3, 19, 23)
    maps = torch.rand(1, len(model.condition_categories), 19 * 4, 23 * 4).softmax(1)
    with torch.no_grad():
        whole = model(x, maps)
        tiled = run_tiled(model, x, 4, Tiling(16, 7), extras=(maps,))  # field radius 6
    torch.testing.assert_close(tiled, whole, atol=ATOL, rtol=0)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_super_resolver_tiles_a_bicubic_input_y_network(set5, padding):
    lr = bicubic_lr(set5[0][1], 3)
    model = _srcnn(padding)
    whole = SuperResolver(model)(lr, 3)
    tiled = SuperResolver(model, tiling=Tiling(64, 8))(lr, 3)
    assert (whole.int() - tiled.int()).abs().max() <= 1  # float rounding may tip a pixel across .5


def _eval_table(capsys, data_root, weights, *tile_args: str) -> tuple[int, str, str]:
    config = '{"padding": "same"}'
    argv = ["eval", "--model", "srcnn", "--model-config", config, "--weights", str(weights), "--sets", "Set5"]
    try:
        code = main([*argv, "--scales", "3", "--data-root", str(data_root), *tile_args])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_eval_tile_scores_what_whole_image_eval_scores(tmp_path, capsys, data_root):
    weights = tmp_path / "srcnn.pth"
    torch.save(_srcnn("same").state_dict(), weights)
    code, whole, _ = _eval_table(capsys, data_root, weights)
    assert code == 0
    code, tiled, _ = _eval_table(capsys, data_root, weights, "--tile", "96", "--tile-overlap", "16")
    assert code == 0
    header, *rows = tiled.splitlines()
    assert "tiled: 96-pixel tiles, 16-pixel overlap" in header
    assert rows == whole.splitlines()[1:] and "Set5" in rows[-1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tile", "64"], "--tile 64: a tile must be larger than twice --tile-overlap (32 pixels)"),
        (["--tile", "0", "--tile-overlap", "0"], "--tile 0: a tile must be larger than twice --tile-overlap (0"),
        (["--tile", "64", "--tile-overlap", "-1"], "--tile-overlap -1: give the context pixels as an integer >= 0"),
        (["--tile-overlap", "8"], "--tile-overlap goes with --tile"),
        (["--tile", "x"], "--tile: invalid int value: 'x'"),
    ],
)
def test_bad_tile_flags_are_one_line_and_exit_2(tmp_path, capsys, data_root, args, message):
    weights = tmp_path / "srcnn.pth"
    torch.save(_srcnn("same").state_dict(), weights)
    code, _, err = _eval_table(capsys, data_root, weights, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_tile_needs_a_network(capsys, data_root):
    code = main(["eval", "bicubic", "--sets", "Set5", "--scales", "4", "--tile", "64", "--data-root", str(data_root)])
    err = capsys.readouterr().err
    assert code == 2 and "--tile goes with a network" in err and len(err.strip().splitlines()) == 1
