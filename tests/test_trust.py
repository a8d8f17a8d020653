"""Trust by construction: no silently wrong score, no user file overwritten, nothing written where not asked. Every
refusal is one line on stderr, exit 2, and leaves the folder's files as they were (compared by their hashes)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import tifffile
import torch
from PIL import Image

from srbench.cli import main
from srbench.data import get_spec, load_set
from srbench.degrade import bicubic_lr, imresize
from srbench.models import build_model
from srbench.tracking.store import Tracker
from srbench.tracking.uri import resolve_tracking_uri
from srbench.train.checkpoint import load_checkpoint, save_checkpoint
from srbench.train.config import make_config
from srbench.train.loop import Trainer

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--model", "srcnn", "--scale", "3", "--budget", "smoke"]


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


def test_train_never_writes_into_a_folder_of_the_users(tmp_path, monkeypatch, capsys, data_root):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    for name in ("results.json", "config.json", "history.jsonl"):
        (tmp_path / "mine" / name).write_text('{"mine": true}\n')
    _refused(TRAIN + ["--run-dir", "mine"], capsys, "--run-dir mine already exists and is not an srbench run folder")


def test_a_run_stopped_before_its_first_checkpoint_is_known_as_srbenchs(tmp_path, monkeypatch, capsys, data_root):
    """The trainer marks its folder when it makes it: what a run killed before its first checkpoint leaves."""
    monkeypatch.chdir(tmp_path)
    Trainer(make_config({"name": "srcnn"}, 3, "smoke"), tmp_path / "run", data_root, show_progress=False)
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()
    capsys.readouterr()  # the trainer's own start-up lines
    _refused(TRAIN + ["--run-dir", "run"], capsys, "run holds a run stopped before its first checkpoint")
    _refused(["train", "--resume", "run"], capsys, "--resume run: the run stopped before its first checkpoint")


def test_a_truncated_checkpoint_or_a_pickle_is_one_line_without_torchs_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    save_checkpoint({"model": build_model({"name": "srcnn"}).state_dict()}, tmp_path / "full.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "full.pt").read_bytes()[:5000])
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    for name in ("cut.pt", "plain.pkl"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _refused(["eval", "--checkpoint", name, "--sets", "Set5"], capsys, f"checkpoint {name} is not a PyTorch")
            _refused(
                ["eval", "--model", "srcnn", "--weights", name, "--sets", "Set5", "--scales", "3"],
                capsys,
                f"--weights {name} is not a PyTorch checkpoint (truncated or another format)",
            )
        assert not caught, [str(w.message) for w in caught]


def test_an_image_too_large_to_decode_is_refused_from_its_header(tmp_path, monkeypatch, capsys, data_root):
    """144 Mpixel: above PIL's warning threshold, below its error; refused before decoding, PIL's warning unseen."""
    monkeypatch.chdir(tmp_path)
    _bicubic_sr(data_root, tmp_path / "sr")
    Image.new("1", (12_000, 12_000)).save(tmp_path / "sr" / "bird.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _refused(["eval", "sr", "--sets", "Set5", "--scales", "3"], capsys, "sr/bird.png: 12000x12000 is more than")
    assert not caught, [str(w.message) for w in caught]


def test_data_lr_refuses_an_out_that_is_a_link_to_a_folder(tmp_path, monkeypatch, capsys, data_root):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "precious.txt").write_text("keep me")
    (tmp_path / "lr").symlink_to(tmp_path / "elsewhere")
    _refused(["data", "lr", "--set", "Set5", "--scale", "4", "--out", "lr"], capsys, "--out lr is a symbolic link")
    assert [p.name for p in (tmp_path / "elsewhere").iterdir()] == ["precious.txt"]


def test_reading_an_empty_store_says_there_are_no_finished_sweeps(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}").studies()  # a real, empty MLflow store
    capsys.readouterr()  # MLflow's notes on creating it
    _refused(["leaderboard"], capsys, "no finished sweeps in sqlite:///")
    assert not (tmp_path / "leaderboards").exists()


# Long enough to be stopped mid-way: SIGTERM comes at the first log row (iteration 10), seconds before the end.
LONG = ["--set", "iterations=400", "--set", "log_every=10", "--set", "val_every=200", "--set", "precision=fp32"]


def test_sigterm_stops_train_resumably_and_the_resumed_run_ends_as_an_uninterrupted_one(tmp_path, data_root):
    """SIGTERM (kill, schedulers, containers) as Ctrl-C: the current iteration finishes, a checkpoint is written,
    one line gives the resume command, exit 128 + 15; resumed, the run ends with the weights and figures of a run
    never stopped."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "SRBENCH_DATA": str(data_root)}
    argv = [sys.executable, "-m", "srbench", *TRAIN, *LONG, "--run-dir", "run", "--quiet"]
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        history = tmp_path / "run" / "history.jsonl"
        while proc.poll() is None and not (history.exists() and '"phase"' in history.read_text()):
            time.sleep(0.05)  # training has started: its first log row
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1].startswith("stopped at iteration ")
    assert "(SIGTERM); continue with: python -m srbench train --resume run" in err
    stopped = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["iteration"]
    assert 0 < stopped < 400 and not (tmp_path / "run" / "results.json").exists()

    resumed = subprocess.run(argv[:4] + ["--resume", "run", "--quiet"], cwd=tmp_path, env=env, capture_output=True)
    assert resumed.returncode == 0, resumed.stderr
    settings = {"iterations": 400, "log_every": 10, "val_every": 200, "precision": "fp32"}
    straight = Trainer(make_config({"name": "srcnn"}, 3, "smoke", **settings), tmp_path / "straight", data_root)
    expected = straight.fit()
    final = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(final[k], v) for k, v in straight.model.state_dict().items())
    assert json.loads((tmp_path / "run" / "results.json").read_text())["sets"] == expected["sets"]


STOPPER = """
import os
import signal
from pathlib import Path

import torch

from srbench.metrics import Metric


def stop_once(sr, hr, shave):  # a stop that reaches the run while it scores its final figures
    flag = Path(__file__).with_name("stop-now")
    if flag.exists():
        flag.unlink()
        os.kill(os.getpid(), signal.SIGTERM)
    return torch.zeros(sr.shape[0], dtype=torch.float64)


STOP = Metric("stopper", "Stopper", higher_is_better=True, digits=1, compute=stop_once)
"""


def test_a_stop_during_the_final_scoring_stops_at_once_and_resume_scores_again(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stopper.py").write_text(STOPPER)
    (tmp_path / "stop-now").touch()
    argv = TRAIN + ["--set", 'metrics=["stopper.py:STOP"]', "--run-dir", "run", "--quiet"]
    assert main(argv) == 128 + signal.SIGTERM
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("stopped during the final scoring (SIGTERM); continue with: python -m srbench train")
    assert not (tmp_path / "run" / "results.json").exists()
    assert main(["train", "--resume", "run", "--quiet"]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["iterations"] == results["config"]["iterations"] and results["sets"][0]["stopper"] == 0.0


def test_a_store_named_by_a_relative_path_is_the_one_in_the_folder_it_was_named_in(tmp_path, monkeypatch):
    """Trials, Ray workers and pages open the store from folders of their own: a relative path is made absolute."""
    monkeypatch.chdir(tmp_path)
    here = Path.cwd()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri() == f"sqlite:///{here / 'mlflow.db'}"
    assert resolve_tracking_uri("sqlite:///stores/mlflow.db") == f"sqlite:///{here / 'stores' / 'mlflow.db'}"
    assert resolve_tracking_uri(f"sqlite:///{here / 'a.db'}") == f"sqlite:///{here / 'a.db'}"
    assert resolve_tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///m.db")
    assert resolve_tracking_uri() == f"sqlite:///{here / 'm.db'}"


def test_a_store_of_an_older_mlflow_is_refused_never_migrated(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make = f"from srbench.tracking.store import Tracker; Tracker('sqlite:///{tmp_path / 'mlflow.db'}')"
    # in another process: MLflow keeps the stores this process opened, and would not look at the file again
    subprocess.run([sys.executable, "-c", make], env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    with contextlib.closing(sqlite3.connect(tmp_path / "mlflow.db")) as db:  # as an older MLflow left it
        db.execute("UPDATE alembic_version SET version_num = '0584bdc529eb'")
        db.commit()
    for argv in (["sweeps"], ["leaderboard"], TRAIN + ["--tracking-uri", "sqlite:///mlflow.db", "--run-dir", "run"]):
        _refused(argv, capsys, "the MLflow store has an older schema than this MLflow's; back it up, then run")
