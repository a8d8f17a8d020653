"""Trust by construction: no silently wrong score, no user file overwritten, nothing written where not asked. Every
refusal is one line on stderr, exit 2, and leaves the folder's files as they were (compared by their hashes)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import tifffile
import torch
from PIL import Image

from srbench.cli import main
from srbench.data import get_spec, load_set
from srbench.degrade import bicubic_lr, imresize
from srbench.models import build_model


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def _refused(argv: list[str], capsys, fragment: str) -> None:
    """``argv`` is one line naming ``fragment`` on stderr (after eval's progress lines), exit 2, and changes no file
    of the working folder."""
    before = _hashes(Path.cwd())
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith("scoring ")]
    assert code == 2 and fragment in err and len(lines) == 1, err
    assert "Traceback" not in err and _hashes(Path.cwd()) == before


def _bicubic_sr(data_root: Path, folder: Path, scale: int = 3) -> None:
    """Set5's bicubic SR at ``scale``, as 8-bit RGB PNGs named like the HR images."""
    folder.mkdir()
    for name, hr in load_set(get_spec("Set5"), data_root, download=False):
        sr = imresize(bicubic_lr(hr, scale), scale=scale)
        Image.fromarray(sr.permute(1, 2, 0).numpy()).save(folder / name)


def _eval_json(folder: Path, capsys) -> dict:
    assert main(["eval", str(folder), "--sets", "Set5", "--scales", "3", "--json"]) == 0
    return json.loads(capsys.readouterr().out, parse_constant=_not_json)


def _not_json(constant: str):
    raise AssertionError(f"{constant} is not JSON")  # json.loads would accept Infinity and NaN


def _per_image(result: dict) -> dict[str, dict]:
    return {row["image"]: row for row in result["results"][0]["per_image"]}


def test_a_16_bit_grey_sr_image_scores_as_its_8_bit_im2uint8(tmp_path, monkeypatch, capsys, data_root):
    """MATLAB's im2uint8 (round(x / 257)) of a 16-bit grey image is the 8-bit image, so both score the same; PIL's
    own conversion would clip every value above 255 (bird: 4.30 dB instead of about 32)."""
    monkeypatch.chdir(tmp_path)
    for bits in (8, 16):
        _bicubic_sr(data_root, tmp_path / f"sr{bits}")
    grey = np.asarray(Image.open(tmp_path / "sr8" / "bird.png").convert("L"))
    Image.fromarray(grey).save(tmp_path / "sr8" / "bird.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "sr16" / "bird.png")
    assert Image.open(tmp_path / "sr16" / "bird.png").mode == "I;16"  # really 16 bits in the file
    eight, sixteen = _eval_json(tmp_path / "sr8", capsys), _eval_json(tmp_path / "sr16", capsys)
    assert eight["results"][0]["psnr_y"] == sixteen["results"][0]["psnr_y"]
    assert _per_image(eight)["bird.png"] == _per_image(sixteen)["bird.png"]
    assert _per_image(sixteen)["bird.png"]["psnr_y"] > 25  # the grey's luma against the HR's, not clipped


def test_a_16_bit_colour_sr_image_is_refused_naming_it(tmp_path, monkeypatch, capsys, data_root):
    """PIL keeps only the high byte of 16-bit colour, which is not im2uint8: refused rather than scored."""
    monkeypatch.chdir(tmp_path)
    _bicubic_sr(data_root, tmp_path / "sr")
    rgb = np.asarray(Image.open(tmp_path / "sr" / "bird.png")).astype(np.uint16) * 257
    (tmp_path / "sr" / "bird.png").unlink()
    tifffile.imwrite(tmp_path / "sr" / "bird.tif", rgb, photometric="rgb")
    _refused(["eval", "sr", "--sets", "Set5", "--scales", "3"], capsys, "sr/bird.tif: it has more than 8 bits")


def test_sr_equal_to_hr_gives_strict_json_with_null_psnr_and_ssim_at_most_1(tmp_path, monkeypatch, capsys, data_root):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hr").mkdir()
    for image in (data_root / "benchmarks" / "Set5" / "HR").iterdir():
        (tmp_path / "hr" / image.name).write_bytes(image.read_bytes())
    result = _eval_json(tmp_path / "hr", capsys)["results"][0]
    assert result["psnr_y"] is None and result["not_finite"] == {"psnr_y": "inf", "psnr_rgb": "inf"}
    assert 0.9999 < result["ssim_y"] <= 1.0
    for row in result["per_image"]:
        assert row["psnr_y"] is None and row["ssim_y"] <= 1.0 and row["not_finite"]["psnr_y"] == "inf"


def test_a_network_with_nan_output_is_one_line_naming_the_image(tmp_path, monkeypatch, capsys, data_root):
    monkeypatch.chdir(tmp_path)
    weights = {k: torch.full_like(v, float("nan")) for k, v in build_model({"name": "srcnn"}).state_dict().items()}
    torch.save(weights, tmp_path / "nan.pth")
    _refused(
        ["eval", "--model", "srcnn", "--weights", "nan.pth", "--sets", "Set5", "--scales", "3"],
        capsys,
        "the network's output for baby.png holds NaN or Inf",
    )
