"""NIQE: equal to BasicSR 1.4.2's ``calculate_niqe`` within 0.01 on Set5 and Set14 (HR and bicubic x4, the values in
``fixtures/niqe_basicsr.json``, made by ``benchmarks/niqe_reference.py``), through ``srbench eval``; BasicSR's Y; and
the inputs NIQE cannot score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_cli import assert_one_line_error

from srbench.cli import main
from srbench.color import rgb_to_y, rgb_to_y_basicsr
from srbench.data.images import save_png
from srbench.errors import UserError
from srbench.metrics import get_metric
from srbench.metrics import niqe as niqe_module
from srbench.metrics.niqe import niqe

FIXTURE = Path(__file__).parent / "fixtures" / "niqe_basicsr.json"
TOLERANCE = 0.01
SETS = ("Set5", "Set14")


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(FIXTURE.read_text())


def eval_json(capsys, data_root: Path, source: str) -> list[dict]:
    code = main(
        ["eval", source, "--sets", ",".join(SETS), "--scales", "4", "--metrics", "niqe", "--json"]
        + ["--data-root", str(data_root)]
    )
    assert code == 0
    return json.loads(capsys.readouterr().out)["results"]


@pytest.mark.parametrize("source, kind", [("bicubic", "bicubic"), ("hr", "hr")])
def test_eval_gives_basicsrs_niqe_per_set_and_per_image(capsys, data_root, reference, source, kind):
    results = eval_json(capsys, data_root, source)
    assert [r["set"] for r in results] == list(SETS)
    for result in results:
        expected = reference["images"][result["set"]]
        got = {row["image"]: row["niqe"] for row in result["per_image"]}
        assert got.keys() == expected.keys()
        for name, value in got.items():
            assert abs(value - expected[name][kind]) < TOLERANCE, (result["set"], name, kind, value)
        assert result["niqe"] == pytest.approx(sum(got.values()) / len(got))
    if source == "hr":  # scored against themselves: PSNR is not a number, said so in strict JSON
        assert results[0]["psnr_y"] is None and results[0]["not_finite"]["psnr_y"] == "inf"


def test_niqe_is_a_no_reference_metric_where_lower_is_better():
    metric = get_metric("niqe")
    assert (metric.reference, metric.higher_is_better, metric.arrow, metric.weights) == (False, False, "↓", None)


def test_a_batch_scores_each_image_as_alone_on_cpu_and_all_at_once_as_on_an_accelerator(set5, monkeypatch):
    crops = torch.stack([hr[:, :200, :250] for _, hr in set5[:3]])
    alone = torch.cat([niqe(crop[None], None, 4) for crop in crops])
    assert torch.equal(niqe(crops, None, 4), alone) and alone.dtype == torch.float64
    monkeypatch.setattr(niqe_module, "per_image_chunks", lambda *tensors: iter([tensors]))  # an accelerator's path
    torch.testing.assert_close(niqe(crops, None, 4), alone, rtol=0, atol=1e-9)


def test_a_flat_image_has_no_niqe_and_does_not_fail():
    assert niqe(torch.full((1, 3, 200, 300), 128, dtype=torch.uint8), None, 4).isnan().all()


def test_an_image_without_two_blocks_is_one_line_naming_its_size(tmp_path, capsys):
    with pytest.raises(UserError, match=r"NIQE needs at least two 96x96 blocks after the 4-pixel border shave; an "):
        niqe(torch.zeros(1, 3, 120, 150, dtype=torch.uint8), None, 4)
    small = tmp_path / "small"
    small.mkdir()
    save_png(
        torch.randint(0, 256, (3, 120, 120), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)),
        small / "a.png",
    )
    code = main(["eval", "bicubic", "--sets", f"folder:{small}", "--scales", "2", "--metrics", "niqe"])
    assert_one_line_error(code, capsys.readouterr().err, "2-pixel border shave; an image of 120x120 has 1")


def _basicsr_y(rgb: np.ndarray) -> np.ndarray:
    """BasicSR 1.4.2's ``to_y_channel`` of BGR float32 as ``calculate_niqe`` calls it, transliterated: its
    ``bgr2ycbcr(img / 255., y_only=True)`` (``np.dot`` with the BGR weights, + 16, / 255, to float32), times 255."""
    bgr = rgb[..., ::-1].astype(np.float32) / np.float32(255.0)
    y = np.dot(bgr, [24.966, 128.553, 65.481]) + 16.0
    return (y / 255.0).astype(np.float32) * np.float32(255.0)


def _near_halves(margin: int) -> np.ndarray:
    """Every 8-bit colour ``(n, 3)`` whose exact Y, ``16 + (65481 R + 128553 G + 24966 B) / 255000``, is within
    ``margin / 255000`` of an integer plus a half: where float rounding decides which integer Y rounds to."""
    g, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    green_blue = 128553 * g + 24966 * b
    found = []
    for r in range(256):
        gs, bs = np.nonzero(np.abs((65481 * r + green_blue) % 255000 - 127500) <= margin)
        found.append(np.stack([np.full_like(gs, r), gs, bs], axis=-1))
    return np.concatenate(found).astype(np.uint8)


def test_basicsrs_y_is_matched_bit_for_bit():
    """On the colours near a half (where rounding Y is decided by float rounding) and on random ones. srbench's
    float64 Y rounds to another integer than BasicSR's for some of them, hence rgb_to_y_basicsr."""
    random = np.random.default_rng(0).integers(0, 256, (2**16, 3), dtype=np.uint8)
    rgb = np.concatenate([_near_halves(30), random])
    tensor = torch.from_numpy(rgb.T[:, :, None].copy())  # (3, colours, 1)
    ours = rgb_to_y_basicsr(tensor)[0, :, 0].numpy()
    assert np.array_equal(ours, _basicsr_y(rgb).astype(np.float64))
    assert (np.round(rgb_to_y(tensor)[0, :, 0].numpy()) != np.round(ours)).sum() > 0
