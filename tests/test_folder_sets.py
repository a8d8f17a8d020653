"""Users' own data sets, folders of HR images named ``folder:<path>``: named by the folder, identified by their
decoded pixels, never downloaded, and through a whole sweep recorded and scored like the catalogue's sets.

The folders are cut from the reference images (real pixels); the bad inputs are in test_bad_input.py."""

from __future__ import annotations

import csv
import json
import shutil
import textwrap
from pathlib import Path

import pytest
from PIL import Image
from test_sweep import child_runs

from srbench.cli import main
from srbench.data import CATALOGUE, ensure, get_spec, set_folder, status
from srbench.data.images import load_rgb, save_png
from srbench.errors import UserError
from srbench.tracking.store import DATASET_DIGEST_CHARS, Tracker

SET5 = Path("benchmarks") / "Set5" / "HR"


def cut(sources: list[Path], folder: Path, width: int, height: int) -> Path:
    """``folder`` holding the top-left ``width`` x ``height`` of each source image, as PNG under its stem."""
    folder.mkdir(parents=True)
    for source in sources:
        save_png(load_rgb(source)[:, :height, :width], folder / f"{source.stem}.png")
    return folder


@pytest.fixture
def five(tmp_path, data_root) -> Path:
    """A copy of Set5 under another name."""
    return Path(shutil.copytree(data_root / SET5, tmp_path / "five"))


@pytest.fixture
def own_sets(tmp_path, data_root) -> tuple[Path, Path]:
    """A training folder (4 BSDS200 crops, room for SRCNN's 33-pixel patch at x3) and a benchmark folder (2 Set14
    crops)."""
    train = sorted((data_root / "train" / "BSDS200").iterdir())[:4]
    bench = [data_root / "benchmarks" / "Set14" / "HR" / name for name in ("baboon.png", "barbara.png")]
    return cut(train, tmp_path / "my_train", 72, 66), cut(bench, tmp_path / "my_bench", 96, 90)


def test_a_folder_set_is_named_by_its_folder_and_identified_by_its_pixels(five, monkeypatch):
    monkeypatch.chdir(five.parent)
    spec = get_spec("folder:five")  # relative: against the current directory
    assert (spec.name, spec.kind, spec.folder, spec.count, spec.url) == ("five", "benchmark", str(five), 5, None)
    # The same pixels as the reference Set5, so the same per-image digests and set digest: read from the pixels.
    assert spec.digests == CATALOGUE["Set5"].digests and spec.set_digest == CATALOGUE["Set5"].set_digest
    assert get_spec(f"folder:{five}", kind="train").kind == "train"
    elsewhere = Path("/nonexistent-data-root")
    assert set_folder(spec, elsewhere) == five and status(spec, elsewhere).state == "ok, pixels verified"
    with pytest.raises(ValueError, match="no place under a data root"):
        spec.relpath  # noqa: B018  (never a path under the data root)


def test_the_digest_follows_the_pixels_not_the_files(five, tmp_path):
    from srbench.train.config import config_hash, make_config
    from srbench.train.prepared import cache_file

    name = f"folder:{five}"

    def identity() -> tuple[str, str, Path]:
        config = make_config({"name": "srcnn"}, 3, "smoke", train_set=name, eval_sets=["Set5", name])
        return get_spec(name).set_digest, config_hash(config), cache_file(name, 3, tmp_path, None, False)

    before, size = identity(), (five / "baby.png").stat().st_size
    assert before[2].name.startswith("five-x3-")  # the prepared-set cache file goes by the set's name, not its path
    with Image.open(five / "baby.png") as image:
        image.load()
    image.save(five / "baby.png", compress_level=0)  # another file, the same pixels
    assert (five / "baby.png").stat().st_size != size and identity() == before
    pixels = load_rgb(five / "baby.png")
    pixels[:, 0, 0] ^= 1
    save_png(pixels, five / "baby.png")
    after = identity()
    assert all(a != b for a, b in zip(after, before))


def test_relative_folders_are_made_absolute_in_studies_settings_and_configs(own_sets, tmp_path, monkeypatch):
    from srbench.study.load import load_experiment, parse_settings
    from srbench.study.plan import check_trials

    train, bench = own_sets
    monkeypatch.chdir(tmp_path)
    study = tmp_path / "study.py"
    study.write_text(
        "from srbench.study.experiment import Experiment\nEXPERIMENT = Experiment(name='own', model={'name': "
        "'srcnn'}, scale=3, train_set='folder:my_train', eval_sets=['Set5', 'folder:./my_bench'])\n"
    )
    experiment = load_experiment(study)
    settings = parse_settings(['val_sets=["folder:my_bench"]'])
    assert settings == {"val_sets": [f"folder:{bench}"]}
    [trial] = check_trials(experiment, "smoke", settings=settings)
    assert trial.config.train_set == f"folder:{train}" and trial.config.eval_sets == ["Set5", f"folder:{bench}"]
    assert trial.config.val_sets == [f"folder:{bench}"]


def test_eval_scores_a_folder_set_as_it_scores_the_catalogue_set(five, capsys):
    code = main(["eval", "bicubic", "--sets", f"Set5,folder:{five}", "--scales", "3", "--json", "--no-download"])
    out = capsys.readouterr().out
    assert code == 0
    reference, own = json.loads(out)["results"]
    assert (reference["set"], own["set"]) == ("Set5", "five")
    assert own["psnr_y"] == reference["psnr_y"] and own["ssim_y"] == reference["ssim_y"] and own["images"] == 5


def test_a_folder_set_is_never_downloaded(five, tmp_path):
    spec = get_spec(f"folder:{five}")
    (five / "bird.png").unlink()  # gone after it was read
    with pytest.raises(UserError, match=f"data set folder {five} no longer holds bird.png"):
        ensure(spec, tmp_path, download=True)


def test_a_sweep_on_own_folders_records_them_and_gives_them_a_column(
    ray_session,
    own_sets,
    tmp_path,
    monkeypatch,
    capsys,
):
    train, bench = own_sets
    monkeypatch.chdir(tmp_path)
    study = tmp_path / "own_data.py"
    study.write_text(
        textwrap.dedent("""\
        from srbench.experiment import Experiment
        EXPERIMENT = Experiment(name='own_data', model={'name': 'srcnn'}, scale=3,
                                train_set='folder:my_train', eval_sets=['Set5', 'folder:my_bench'])
    """)
    )
    code = main(["sweep", str(study), "--budget", "smoke"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    summary = next(line for line in printed.out.splitlines() if "PSNR / SSIM" in line)
    assert summary.endswith("Set5 PSNR / SSIM" + "my_bench PSNR / SSIM".rjust(22))  # the sweep's own table
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    [run] = child_runs(tracker, "own_data")
    assert run.info.status == "FINISHED"
    # Both folders as dataset inputs: name, pixel digest (as MLflow keeps it) and folder.
    inputs = {(d.dataset.name, d.dataset.digest, d.dataset.source, d.tags[0].value) for d in run.inputs.dataset_inputs}
    for folder, context in ((train, "training"), (bench, "evaluation")):
        digest = get_spec(f"folder:{folder}").set_digest
        assert (folder.name, digest[:DATASET_DIGEST_CHARS], str(folder), context) in inputs
    assert json.loads(run.data.params["eval_sets"]) == ["Set5", f"folder:{bench}"]
    for figure in ("psnr_y", "ssim_y"):
        assert 0 < run.data.metrics[f"my_bench.{figure}"] < 100
    crops = {a.path for a in tracker.client.list_artifacts(run.info.run_id, "crops")}
    assert "crops/my_bench-baboon-detail.png" in crops
    page = (tmp_path / "leaderboards-smoke" / "own_data.md").read_text()
    header = next(line for line in page.splitlines() if line.startswith("| variant |"))
    assert "| Set5 PSNR / SSIM | my_bench PSNR / SSIM |" in header and "folder:" not in page
    assert (
        "Training set, from each run's parameters: my_train (first 4 images)." in page
    )  # the folder set by its name, not its path
    with open(tmp_path / "leaderboards-smoke" / "own_data.csv", newline="") as file:
        rows = [row for row in csv.DictReader(file) if row["set"] == "my_bench"]
    # the subset's bicubic only: a page of subsets scores its references on the same images
    assert sorted(row["variant"] for row in rows) == ["bicubic (first 2 per set)", "default"]
    assert all(0 < float(row["psnr"]) < 100 for row in rows)
