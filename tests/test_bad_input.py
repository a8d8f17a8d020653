"""Every bad input found by probing as a careless user: one line naming the field, file or value, exit 2, and for
a sweep nothing started (no Ray, no MLflow store, no run folder) and nothing already written changed."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from srbench.cli import main

REPO = Path(__file__).resolve().parents[1]
STUDY = str(REPO / "experiments" / "srcnn_ablation.py")
TRAIN = ["train", "--model", "srcnn", "--scale", "3", "--budget", "smoke", "--run-dir", "run"]
SWEEP = ["sweep", STUDY, "--budget", "smoke", "--only", "9-1-5_seed0"]
STUDY_HEAD = (
    "from srbench.experiment import Experiment\n"
    "EXPERIMENT = Experiment(name='probe', model={'name': 'srcnn'}, scale=3, "
)


def _study(body: str):
    def write(folder: Path) -> str:
        (folder / "study.py").write_text(STUDY_HEAD + body + ")\n")
        return "study.py"

    return write


CASES = {
    # training fields through --set: type, range and reserved keys
    "train lr=abc": (TRAIN + ["--set", "lr=abc"], "field 'lr' = 'abc': must be a number"),
    "train batch_size=true": (TRAIN + ["--set", "batch_size=true"], "field 'batch_size' = True: must be an integer"),
    "train adversarial_weight=x": (TRAIN + ["--set", "adversarial_weight=x"], "field 'adversarial_weight' = 'x'"),
    "train seed=x": (TRAIN + ["--set", "seed=x"], "field 'seed' = 'x': must be an integer"),
    "train lr_gamma=x": (TRAIN + ["--set", "lr_gamma=x"], "field 'lr_gamma' = 'x': must be a number"),
    "train val_images=0": (TRAIN + ["--set", "val_images=0"], "field 'val_images' = 0: must be >= 1"),
    "train train_images=0": (TRAIN + ["--set", "train_images=0"], "field 'train_images' = 0: must be >= 1"),
    "train val_sets=[]": (TRAIN + ["--set", "val_sets=[]"], "field 'val_sets' = []: give at least one"),
    "train eval_sets=Set5": (
        TRAIN + ["--set", "eval_sets=Set5"],
        "field 'eval_sets' = 'Set5': must be a list of strings",
    ),
    "train patch_size=3000": (TRAIN + ["--set", "patch_size=3000"], "field 'patch_size' = 3000: larger than"),
    "train scale=5": (TRAIN + ["--set", "scale=5"], "'scale' is not a training field to override"),
    "train resume empty": (
        ["train", "--resume", "empty"],
        "checkpoint empty/checkpoints/last.pt is not a PyTorch checkpoint (truncated or another format)",
    ),
    # run folders: never a user's folder, a file, or a folder srbench cannot write
    "train --run-dir a file": (TRAIN + ["--run-dir", "notadb.db"], "--run-dir notadb.db is a file, not a folder"),
    "train --run-dir under a file": (TRAIN + ["--run-dir", "notadb.db/run"], "notadb.db is a file, not a folder"),
    "train --run-dir a user's folder": (
        TRAIN + ["--run-dir", "broken"],
        "--run-dir broken already exists and is not an srbench run folder",
    ),
    "train --run-dir not writable": (TRAIN + ["--run-dir", "/proc/srbench/run"], "cannot write in /proc"),
    "train --resume a user's folder": (["train", "--resume", "broken"], "not an srbench run folder"),
    # weights that are not PyTorch checkpoints
    "eval --weights a text file": (
        ["eval", "--model", "srcnn", "--weights", "notadb.db", "--sets", "Set5", "--scales", "3"],
        "--weights notadb.db is not a PyTorch checkpoint (truncated or another format)",
    ),
    "eval --checkpoint a text file": (
        ["eval", "--checkpoint", "notadb.db", "--sets", "Set5"],
        "checkpoint notadb.db is not a PyTorch checkpoint (truncated or another format)",
    ),
    # study files
    "study lr='fast'": (
        ["sweep", _study("train={'lr': 'fast'}"), "--dry-run"],
        "field 'lr' = 'fast': must be a number",
    ),
    "study cpus_per_worker='1'": (
        ["sweep", _study("cpus_per_worker='1'"), "--dry-run"],
        "field 'cpus_per_worker' = '1': must be a number",
    ),
    "study seeds=[0, 'one']": (["sweep", _study("seeds=[0, 'one']"), "--dry-run"], "field 'seeds' = [0, 'one']"),
    "study calls sys.exit(0)": (
        [
            "sweep",
            lambda folder: (folder / "exits.py").write_text("import sys\nsys.exit(0)\n") and "exits.py",
            "--dry-run",
        ],
        "exits.py: the file called exit(0) while it was read",
    ),
    "study variants model.scale": (
        ["sweep", _study("variants={'a': {'model.scale': 4}}"), "--dry-run"],
        "'model.scale' in variants / search_space",
    ),
    "study a variant's unknown model": (
        ["sweep", _study("variants={'a': {'model.name': 'nosuch'}}"), "--dry-run"],
        "study.py: variant 'a': model: unknown model 'nosuch'",
    ),
    "study path is a folder": (["sweep", "no_images", "--dry-run"], "experiment file no_images is a folder"),
    # sweep flags
    "sweep --set scale=5": (SWEEP + ["--set", "scale=5"], "'scale' is not a training field to override"),
    "sweep --set budget=paper": (SWEEP + ["--set", "budget=paper"], "'budget' is not a training field to override"),
    "sweep --set seed=abc --dry-run": (SWEEP + ["--set", "seed=abc", "--dry-run"], "--set seed: a sweep's seeds are"),
    "sweep --set model.scale=5 --dry-run": (SWEEP + ["--set", "model.scale=5", "--dry-run"], "--set model.scale"),
    "sweep --set patch_size=3000": (SWEEP + ["--set", "patch_size=3000"], "field 'patch_size' = 3000: larger than"),
    "sweep --gpus-per-worker inf": (
        SWEEP + ["--gpus-per-worker", "inf", "--dry-run"],
        "--gpus-per-worker inf: must be a finite number >= 0",
    ),
    "sweep --gpus-per-worker nan": (
        SWEEP + ["--gpus-per-worker", "nan", "--dry-run"],
        "--gpus-per-worker nan: must be a finite number >= 0",
    ),
    "sweep --gpus-per-worker 2": (
        SWEEP + ["--gpus-per-worker", "2", "--dry-run"],
        "--gpus-per-worker 2: a DDP worker drives one GPU",
    ),
    "sweep --dry-run patch_size=1": (
        SWEEP + ["--dry-run", "--set", "patch_size=1"],
        "field 'patch_size' = 1: must be at least 13 for srcnn at x3",
    ),
    "sweep --dry-run patch_size=3000": (
        SWEEP + ["--dry-run", "--set", "patch_size=3000"],
        "field 'patch_size' = 3000: larger than",
    ),
    "sweep --dry-run patch_size=100000": (
        SWEEP + ["--dry-run", "--set", "patch_size=100000"],
        "field 'patch_size' = 100000: must be at most 4,096",
    ),
    "sweep --dry-run lr=Infinity": (
        SWEEP + ["--dry-run", "--set", "lr=Infinity"],
        "field 'lr' = inf: must be a finite number",
    ),
    "sweep --dry-run lr=NaN": (SWEEP + ["--dry-run", "--set", "lr=NaN"], "field 'lr' = nan: must be a finite"),
    "sweep --dry-run huge iterations": (
        SWEEP + ["--dry-run", "--set", "iterations=999999999999999999999"],
        "field 'iterations' = 999999999999999999999: must be at most 1,000,000,000",
    ),
    "sweep --dry-run huge batch_size": (
        SWEEP + ["--dry-run", "--set", "batch_size=100000000000"],
        "field 'batch_size' = 100000000000: must be at most 65,536",
    ),
    "train patch_size=1": (TRAIN + ["--set", "patch_size=1"], "field 'patch_size' = 1: must be at least 13"),
    "sweep --storage not creatable": (SWEEP + ["--storage", "/proc/srbench/x"], "--storage /proc/srbench/x: cannot"),
    "sweep no data": (SWEEP + ["--data-root", "empty", "--no-download"], "T91 is not in"),
    # users' own sets: folders of HR images (the folders are made by the workdir fixture)
    "study folder missing": (
        ["sweep", _study("train_set='folder:nowhere'"), "--dry-run"],
        "nowhere does not exist; give folder:<path> of a folder of HR images",
    ),
    "study folder is a file": (
        ["sweep", _study("eval_sets=['folder:notadb.db']"), "--dry-run"],
        "notadb.db is not a folder",
    ),
    "study folder empty": (
        ["sweep", _study("train_set='folder:no_images'"), "--dry-run"],
        "no_images holds no images; valid suffixes: .png",
    ),
    "study folder unreadable image": (
        ["sweep", _study("eval_sets=['Set5', 'folder:broken']"), "--dry-run"],
        "broken/notes.png: cannot identify image file",
    ),
    "study folder named like Set5": (
        ["sweep", _study("eval_sets=['folder:set5']"), "--dry-run"],
        "set5 is named like the catalogue set Set5: rename the folder",
    ),
    "study two folders of one name": (
        ["sweep", _study("eval_sets=['folder:small_bench', 'folder:other/small_bench']"), "--dry-run"],
        "two sets are named small_bench",
    ),
    "study folder image below the patch": (
        ["sweep", _study("train_set='folder:small_train'")],
        "small_train/b-tiny.png (20x24) is smaller than the patch; at x3 it holds "
        "patches up to 18: use patch_size <= 18",
    ),
    "train folder image below the patch": (
        TRAIN + ["--set", "train_set=folder:small_train"],
        "small_train/b-tiny.png (20x24) is smaller than the patch",
    ),
    "study folder image below the scale": (
        ["sweep", _study("eval_sets=['Set5', 'folder:small_bench']")],
        "small_bench/b-tiny.png (16x16) would leave nothing to score",
    ),
    "eval folder missing": (
        ["eval", "bicubic", "--sets", "Set5,folder:nowhere", "--scales", "2"],
        "nowhere does not exist",
    ),
    # evaluation and data
    "eval --scales 999": (["eval", "bicubic", "--sets", "Set5", "--scales", "999"], "scale 999 is too large for Set5"),
    "eval --scales empty": (["eval", "bicubic", "--sets", "Set5", "--scales", ""], "--scales is empty"),
    "train --scale 0": (TRAIN[:4] + ["0"], "bad scale '0' in --scale:"),
    "data lr --scale 0": (["data", "lr", "--set", "Set5", "--scale", "0", "--out", "lr"], "bad scale '0' in --scale:"),
    "data lr --scale 999": (["data", "lr", "--set", "Set5", "--scale", "999", "--out", "lr"], "scale 999 is too large"),
    "eval decompression bomb": (["eval", "sr", "--sets", "Set5", "--scales", "4"], "cannot read image sr/baby.png"),
    "eval two files for one image": (
        ["eval", "twins", "--sets", "Set5", "--scales", "4"],
        "more than one SR image for the same HR image (baby.png, baby.tif)",
    ),
    # stores
    "leaderboard on a non-database": (
        ["leaderboard", "--tracking-uri", "sqlite:///notadb.db"],
        "notadb.db is not an SQLite database",
    ),
    "sweeps on another program's SQLite": (
        ["sweeps", "--tracking-uri", "sqlite:///other.db"],
        "other.db is an SQLite database but not an MLflow store (no alembic_version, experiments, runs table)",
    ),
    "leaderboard on another program's SQLite": (
        ["leaderboard", "--tracking-uri", "sqlite:///other.db"],
        "other.db is an SQLite database but not an MLflow store",
    ),
    "eval --model-uri on another program's SQLite": (
        ["eval", "--model-uri", "models:/x@best_quick", "--tracking-uri", "sqlite:///other.db", "--sets", "Set5"],
        "other.db is an SQLite database but not an MLflow store",
    ),
    "train on another program's SQLite": (
        TRAIN + ["--tracking-uri", "sqlite:///other.db"],
        "other.db is an SQLite database but not an MLflow store",
    ),
    "sweeps on no store": (["sweeps"], "no MLflow store at sqlite:///"),
    "sweeps --tracking-uri with no file": (["sweeps", "--tracking-uri", "sqlite:///"], "sqlite:/// names no file"),
    "sweeps --tracking-uri a path": (["sweeps", "--tracking-uri", "runs.db"], "a path, not a URI; for that SQLite"),
    "sweeps --tracking-uri foo://bar": (["sweeps", "--tracking-uri", "foo://bar"], "foo://bar: unknown scheme 'foo'"),
    "leaderboard --tracking-uri foo://bar": (
        ["leaderboard", "--tracking-uri", "foo://bar"],
        "foo://bar: unknown scheme 'foo'",
    ),
    "train --tracking-uri foo://bar": (TRAIN + ["--tracking-uri", "foo://bar"], "foo://bar: unknown scheme 'foo'"),
    "sweep --dry-run --tracking-uri foo://bar": (
        SWEEP + ["--dry-run", "--tracking-uri", "foo://bar"],
        "foo://bar: unknown scheme 'foo'",
    ),
    "train store in a missing folder": (
        TRAIN + ["--tracking-uri", "sqlite:////nonexistent/dir/x.db"],
        "MLflow store /nonexistent/dir/x.db: the folder /nonexistent/dir does not exist",
    ),
    "train store in an unwritable folder": (
        TRAIN + ["--tracking-uri", "sqlite:////proc/srbench.db"],
        "MLflow store /proc/srbench.db: /proc: cannot write in /proc",
    ),
    "data lr --out under a file": (
        ["data", "lr", "--set", "Set5", "--scale", "4", "--out", "notadb.db/lr"],
        "notadb.db is a file, not a folder",
    ),
    "leaderboard --out a file": (["leaderboard", "--out", "notadb.db"], "--out notadb.db is a file, not a folder"),
    "leaderboard --out not writable": (["leaderboard", "--out", "/proc/srbench/pages"], "cannot write in /proc"),
    "leaderboard on a file store": (
        ["leaderboard", "--tracking-uri", "file:///tmp/mlruns"],
        "file stores (mlruns folders) are not supported",
    ),
}


@pytest.fixture
def workdir(tmp_path, monkeypatch, data_root):
    """A folder holding the files the cases name, as the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    (tmp_path / "empty" / "checkpoints" / "last.pt").write_bytes(b"")
    (tmp_path / "notadb.db").write_text("not a database\n")
    with contextlib.closing(sqlite3.connect(tmp_path / "other.db")) as other:  # another program's database
        other.execute("CREATE TABLE notes (text TEXT)")
        other.commit()
    (tmp_path / "sr").mkdir()
    for name in ("bird", "butterfly", "head", "woman"):
        Image.new("RGB", (8, 8)).save(tmp_path / "sr" / f"{name}.png")
    Image.new("1", (14_000, 14_000)).save(tmp_path / "sr" / "baby.png")  # 196 Mpixel: PIL's decompression bomb
    (tmp_path / "twins").mkdir()
    for suffix in ("png", "tif"):
        Image.new("RGB", (8, 8)).save(tmp_path / "twins" / f"baby.{suffix}")
    _own_set_folders(tmp_path, data_root)
    return tmp_path


def _own_set_folders(folder: Path, data_root: Path) -> None:
    """Folder sets with one fault each, cut from Set5's baby (real pixels): an empty one, one with a text file
    named like an image, one named like a catalogue set, and ones with an image too small for SRCNN's 33-pixel
    patch or for scoring at x3 (the smaller of two, which is the one named)."""
    baby = Image.open(data_root / "benchmarks" / "Set5" / "HR" / "baby.png")
    big = [("a-big.png", 64, 64)]
    for name, images in {
        "small_train": big + [("b-small.png", 22, 26), ("b-tiny.png", 20, 24)],
        "small_bench": big + [("b-small.png", 20, 18), ("b-tiny.png", 16, 16)],
        "other/small_bench": big,
        "set5": big,
        "broken": big,
    }.items():
        (folder / name).mkdir(parents=True)
        for file, width, height in images:
            baby.crop((0, 0, width, height)).save(folder / name / file)
    (folder / "broken" / "notes.png").write_text("not an image\n")
    (folder / "no_images").mkdir()
    (folder / "no_images" / "readme.txt").write_text("the images are elsewhere\n")


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_exit_2_before_anything_starts(ray_starts, workdir, capsys, case):
    argv, fragment = CASES[case]
    argv = [a(workdir) if callable(a) else a for a in argv]
    before = _contents(workdir)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    assert ray_starts == []
    assert _contents(workdir) == before  # nothing created (no mlflow.db, run/), no file changed


def _contents(folder: Path) -> dict[str, str | None]:
    """Every path under ``folder`` with its file's SHA-256 (None for a folder)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        for p in folder.rglob("*")
    }


def test_data_lr_never_writes_through_a_link(workdir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "precious.txt"
    outside.write_text("keep me")
    (workdir / "lr").mkdir()
    (workdir / "lr" / "baby.png").symlink_to(outside)
    (workdir / "lr" / "bird.png").symlink_to(workdir / "nowhere.png")  # dangling
    code = main(["data", "lr", "--set", "Set5", "--scale", "4", "--out", "lr", "--overwrite"])
    assert code == 2 and outside.read_text() == "keep me" and not (workdir / "nowhere.png").exists()


def test_eval_names_the_files_it_does_not_score(workdir, capsys):
    (workdir / "sr" / "baby.png").unlink()
    assert main(["data", "lr", "--set", "Set5", "--scale", "4", "--out", "lr4"]) == 0
    for image in (workdir / "lr4").iterdir():  # any SR method: here nearest-neighbour x4
        Image.open(image).resize((Image.open(image).width * 4, Image.open(image).height * 4)).save(
            workdir / "sr" / image.name
        )
    (workdir / "sr" / "notes.png").write_bytes((workdir / "sr" / "bird.png").read_bytes())
    assert main(["eval", "sr", "--sets", "Set5", "--scales", "4"]) == 0
    assert "not scored (named like no HR image): notes.png" in capsys.readouterr().err
