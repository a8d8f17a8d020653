"""Metrics as a registry: srbench's own declared once, and a metric defined outside srbench (``user_metrics.py``)
named in ``eval --metrics`` and in a study's ``metrics``, through a real sweep to MLflow, the page and the CSV."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import user_metrics

from srbench.cli import main
from srbench.errors import UserError
from srbench.evaluate import SetScore, score_pairs
from srbench.metrics import (
    METRICS,
    Metric,
    choose,
    find_metric,
    get_metric,
    prepare,
    psnr,
    psnr_ssim_y,
    register_metric,
    score_batch,
)
from srbench.tracking.names import TAG_KIND, TAG_METRICS, final_metric
from srbench.train.config import config_from_dict, config_hash, make_config

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(user_metrics.__file__)


@pytest.fixture
def unregister():
    """Registrations a test makes are gone after it (the registry is process-wide)."""
    before = dict(METRICS)
    yield
    METRICS.clear()
    METRICS.update(before)


@pytest.fixture(scope="module")
def pairs(set5):
    """Crops of two Set5 images and a blurred copy of each (SR), uint8, as ``(name, sr, hr)``."""
    blur = torch.nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    crops = [(name, hr[:, :96, :96].contiguous()) for name, hr in set5[:2]]
    return [(name, blur(hr[None].float())[0].round().to(torch.uint8), hr) for name, hr in crops]


def test_srbench_declares_its_metrics_once():
    psnr_y, ssim_y, psnr_rgb, lpips = (get_metric(n) for n in ("psnr_y", "ssim_y", "psnr_rgb", "lpips"))
    assert (psnr_y.label, psnr_y.digits, psnr_y.unit, psnr_y.higher_is_better) == ("PSNR-Y", 2, "dB", True)
    assert (ssim_y.label, ssim_y.digits, ssim_y.arrow) == ("SSIM-Y", 4, "↑")
    assert not psnr_rgb.column  # a secondary figure: MLflow and eval, no page column
    assert (lpips.arrow, lpips.digits, lpips.perceptual, lpips.weights.option) == ("↓", 4, True, "lpips_weights")
    assert lpips.weights.unavailable == "n/a: no ImageNet weights"
    assert [m.name for m in choose([], {})] == ["psnr_y", "ssim_y", "psnr_rgb"]
    assert [m.name for m in choose(["lpips", "psnr_y"], {"lpips_weights": "random"})] == [
        "psnr_y",
        "ssim_y",
        "psnr_rgb",
        "lpips",
    ]


def test_a_batch_is_scored_with_the_protocols_figures_and_a_users_metric(pairs):
    sr = torch.stack([p[1] for p in pairs])
    hr = torch.stack([p[2] for p in pairs])
    scorers = prepare(choose([f"{FIXTURE}:MAE", f"{FIXTURE}:sharpness"], {}), {})
    values = score_batch(scorers, sr, hr, 3)
    assert list(values) == ["psnr_y", "ssim_y", "psnr_rgb", "mae", "sharpness"]
    expected_psnr, expected_ssim = psnr_ssim_y(sr, hr, 3)
    assert values["psnr_y"] == expected_psnr.tolist() and values["ssim_y"] == expected_ssim.tolist()
    assert values["psnr_rgb"] == psnr(sr, hr, 3, y_channel=False).tolist()
    assert values["mae"] == user_metrics.mean_absolute_error(sr, hr, 3).tolist()
    assert values["sharpness"] == user_metrics.sharpness(sr, None, 3).tolist()  # no HR for a no-reference metric
    rows = score_pairs(pairs, 3, scorers)
    assert [set(row) for row in rows] == [{"image", *values}] * 2
    score = SetScore.from_dict(
        {
            "set": "Set5",
            "scale": 3,
            "images": 2,
            "psnr_y": 30.0,
            "ssim_y": 0.9,
            "psnr_rgb": 29.0,
            "lpips": None,
            "per_image": [],
        }
    )
    assert score.figures == {"psnr_y": 30.0, "ssim_y": 0.9, "psnr_rgb": 29.0}  # results.json before the registry


def test_a_cpu_scores_each_image_alone_in_one_thread_with_the_batched_figures(pairs, unregister):
    def threads_seen(sr: torch.Tensor, _hr: torch.Tensor | None, _shave: int) -> torch.Tensor:
        return torch.full((len(sr),), float(torch.get_num_threads()))

    register_metric(Metric("threads_seen", "threads", True, 0, compute=threads_seen, reference=False))
    scorers = prepare(choose(["threads_seen"], {}), {})
    batched = score_batch(scorers, torch.stack([p[1] for p in pairs]), torch.stack([p[2] for p in pairs]), 3)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        rows = score_pairs(pairs * 2, 3, scorers)
        assert torch.get_num_threads() == 2  # the caller's thread count is left as it was
    finally:
        torch.set_num_threads(before)
    assert [row["threads_seen"] for row in rows] == [1.0] * 4  # each image alone, in one intra-op thread
    for name in ("psnr_y", "ssim_y", "psnr_rgb"):
        assert [row[name] for row in rows] == pytest.approx(batched[name] * 2, rel=1e-12, abs=0)


def test_registering_and_finding_metrics(unregister, monkeypatch):
    metric = register_metric(Metric("edge", "Edge", True, 3, compute=user_metrics.sharpness, reference=False))
    assert get_metric("edge") is metric and metric.file == str(FIXTURE)
    register_metric(Metric("edge", "Edge", True, 3, compute=user_metrics.sharpness, reference=False))  # read again
    with pytest.raises(UserError, match=r"register_metric\('edge'\): the name is taken by .*user_metrics.py:sharpness"):
        register_metric(Metric("edge", "Edge", True, 3, compute=user_metrics.mean_absolute_error))
    with pytest.raises(UserError, match="name 'two words' must be a Python identifier"):
        register_metric(Metric("two words", "X", True, 1, compute=user_metrics.sharpness))
    with pytest.raises(UserError, match=r"register_metric\('nothing'\): give compute"):
        register_metric(Metric("nothing", "X", True, 1))
    assert find_metric("user_metrics:MAE").name == "mae" and get_metric("mae").label == "MAE"  # an import path
    monkeypatch.setattr(
        user_metrics, "EDGE", Metric("edge", "E", True, 1, compute=user_metrics.mean_absolute_error), raising=False
    )
    with pytest.raises(UserError, match=r"register_metric\('edge'\): the name is taken"):
        choose(["edge", "user_metrics:EDGE"], {})  # one name, one metric: its key in MLflow and CSV
    for text, message in [
        ("user_metrics:NOPE", "user_metrics has no Metric 'NOPE'"),
        ("nowhere.metrics:M", "cannot import nowhere.metrics"),
        ("user_metrics:", "is not 'package.module:NAME' or 'file.py:NAME'"),
        ("missing.py:M", "metric file missing.py does not exist"),
    ]:
        with pytest.raises(UserError, match=message):
            find_metric(text)


def test_metrics_stay_out_of_the_configuration_hash_and_old_configurations_still_load(monkeypatch):
    plain = make_config({"name": "srcnn"}, 3, "smoke")
    assert config_hash(make_config({"name": "srcnn"}, 3, "smoke", metrics=["lpips"])) == config_hash(plain)
    saved = {k: v for k, v in plain.to_dict().items() if k != "metrics"}  # a checkpoint from before the field
    assert config_from_dict(saved, "old.pt").metrics == []
    monkeypatch.chdir(FIXTURE.parent)
    relative = make_config({"name": "srcnn"}, 3, "smoke", metrics=["user_metrics.py:MAE"])
    assert relative.metrics == [f"{FIXTURE}:MAE"]  # absolute: trials run in other folders


@pytest.mark.parametrize(
    "args, message",
    [
        (["--metrics", "psnr,ssim"], "--metrics: unknown metric 'psnr'; valid: dists, lpips, "),
        (["--metrics", "nowhere.py:M"], "--metrics: metric file nowhere.py does not exist"),
    ],
)
def test_an_unknown_metric_is_one_line_and_exit_2(capsys, data_root, args, message):
    code = main(["eval", "bicubic", "--sets", "Set5", "--scales", "3", "--data-root", str(data_root), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_study_naming_an_unknown_metric_is_one_line_and_exit_2(tmp_path, capsys):
    study = tmp_path / "bad_metric.py"
    study.write_text(
        "from srbench.study.experiment import Experiment\n"
        "EXPERIMENT = Experiment(name='bad_metric', model={'name': 'srcnn'}, scale=3, metrics=['nosuch'])\n"
    )
    code = main(["sweep", str(study), "--budget", "smoke", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "variant 'default': field 'metrics' = ['nosuch']: unknown metric 'nosuch'; valid: dists, lpips, " in err


def test_eval_scores_a_users_metric_per_set_and_per_image(capsys, data_root, set5):
    code = main(
        [
            "eval",
            "bicubic",
            "--sets",
            "Set5",
            "--scales",
            "3",
            "--data-root",
            str(data_root),
            "--metrics",
            f"{FIXTURE}:MAE,{FIXTURE}:sharpness",
            "--json",
        ]
    )
    assert code == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert [row["image"] for row in result["per_image"]] == [name for name, _ in set5]
    assert all(row["mae"] > 0 and row["sharpness"] > 0 for row in result["per_image"])
    assert result["mae"] == pytest.approx(sum(row["mae"] for row in result["per_image"]) / 5)
    assert round(result["psnr_y"], 2) == 30.40  # the protocol's figures as ever
    main(
        [
            "eval",
            "bicubic",
            "--sets",
            "Set5",
            "--scales",
            "3",
            "--data-root",
            str(data_root),
            "--metrics",
            f"{FIXTURE}:MAE",
        ]
    )
    header, row = capsys.readouterr().out.splitlines()[1:3]
    assert header.split()[-2:] == ["PSNR-RGB", "MAE"] and row.split()[-1] == f"{result['mae']:.3f}"


STUDY = """\
import torch

from srbench.metrics import Metric, register_metric, shave_border
from srbench.study.experiment import Experiment


def brightness(sr, hr, shave):
    return shave_border(sr, shave).double().mean(dim=(1, 2, 3))


# Registered when the study file is read: on the driver, and again in each trial process.
register_metric(Metric("brightness", "Brightness", higher_is_better=True, digits=1, compute=brightness,
                       reference=False))
EXPERIMENT = Experiment(name="metric_study", model={"name": "srcnn"}, scale=3, eval_sets=["Set5"],
                        metrics=["brightness", "FIXTURE:MAE"])
"""


def test_a_users_metric_goes_from_a_study_to_mlflow_the_page_and_the_csv(tmp_path):
    """A real sweep of one smoke trial, from another folder, of a zoo network: only the metrics are the study's own
    (one registered in the study file, one named by the path of a file outside srbench)."""
    (tmp_path / "lab").mkdir()
    study = tmp_path / "lab" / "metric_study.py"
    study.write_text(textwrap.dedent(STUDY).replace("FIXTURE", str(FIXTURE)))
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    swept = subprocess.run(
        [sys.executable, "-m", "srbench", "sweep", str(study), "--budget", "smoke"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert swept.returncode == 0, swept.stderr[-3000:]
    assert "1 of 1 trials finished" in swept.stdout

    import mlflow

    client = mlflow.tracking.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("metric_study")
    [trial] = client.search_runs([experiment.experiment_id], f"tags.`{TAG_KIND}` = 'trial'")
    figures = trial.data.metrics
    mae, bright = figures[final_metric("Set5", "mae")], figures[final_metric("Set5", "brightness")]
    assert 0 < mae < 255 and 0 < bright < 255  # a 12-iteration network: any image
    assert {m["name"] for m in json.loads(trial.data.tags[TAG_METRICS])} >= {"mae", "brightness"}
    assert json.loads(trial.data.params["metrics"]) == ["brightness", f"{FIXTURE}:MAE"]

    page = (workdir / "leaderboards-smoke" / "metric_study.md").read_text()
    rows = {
        cells[0]: cells
        for line in page.splitlines()
        if line.startswith("| ")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    assert rows["variant"][2:4] == ["Brightness ↑ Set5", "MAE ↓ Set5"]  # in the study's order
    assert rows["default"][2:4] == [f"**{bright:.1f}**", f"**{mae:.3f}**"]  # one row: the best of its column
    assert rows["bicubic (first 2 per set)"][2:4] == ["", ""]
    with open(workdir / "leaderboards-smoke" / "metric_study.csv", newline="") as file:
        [row] = [r for r in csv.DictReader(file) if r["variant"] == "default"]
    assert (row["mae"], row["brightness"]) == (f"{mae:.4f}", f"{bright:.2f}") and row["lpips"] == ""
    # `srbench leaderboard` alone (no study file read, no user metric imported) writes the same page and CSV.
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "srbench",
            "leaderboard",
            "--experiment",
            "metric_study",
            "--out",
            str(workdir / "again"),
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    for name in ("metric_study.md", "metric_study.csv"):
        assert (workdir / "again" / name).read_text() == (workdir / "leaderboards-smoke" / name).read_text()
