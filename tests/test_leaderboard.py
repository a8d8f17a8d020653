"""Leaderboards from a small MLflow store with known runs: exact markdown and CSV, deterministic."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from srbench.cli import main
from srbench.data import get_spec
from srbench.evaluate import evaluate_reference
from srbench.metrics import get_metric, prepare
from srbench.report.baseline import Baselines, bicubic_scores, plot_baselines
from srbench.report.leaderboard import write_leaderboards
from srbench.report.plots import pareto_front
from srbench.report.runs import load_runs
from srbench.report.significance import holm, paired_step
from srbench.report.stats import aggregate
from srbench.tracking.names import (
    FINAL_STEP,
    ITERATIONS_TRAINED,
    RESULTS_ARTIFACT,
    TAG_BUDGET,
    TAG_BUDGET_NOTE,
    TAG_CONDITION_SOURCE,
    TAG_CONFIG_HASH,
    TAG_EVAL_IMAGES,
    TAG_GIT_COMMIT,
    TAG_HARDWARE,
    TAG_KIND,
    TAG_METRICS,
    TAG_STOPPED_EARLY,
    TAG_STUDY,
    TAG_SWEEP,
    TAG_VARIANT,
    TAG_VARIANT_ORDER,
    TAG_VGG_USED,
    final_metric,
)
from srbench.tracking.store import Tracker

from conftest import REPO

# variant, seed, Set5/Set14/BSD100 (psnr, ssim), parameters, wall time
RUNS = [
    ("9-1-5", 0, [(31.60, 0.8880), (28.60, 0.8080), (27.90, 0.7750)], 8129, 580.0),
    ("9-1-5", 1, [(31.64, 0.8900), (28.64, 0.8084), (27.94, 0.7760)], 8129, 600.0),
    ("9-5-5", 0, [(31.80, 0.8910), (28.70, 0.8090), (27.95, 0.7750)], 57281, 900.0),
]


SWEEP = "srcnn_ablation-quick-20261101-120000-abcd"
SIZES = {"Set5": 5, "Set14": 14, "BSD100": 100}


def spread(psnr: float, set_name: str) -> list[float]:
    """Per-image PSNRs averaging to a set's figure: each image's own difficulty, the same in every run."""
    n = SIZES[set_name]
    return [psnr + (i - (n - 1) / 2) / n for i in range(n)]


def log_results(tracker: Tracker, run_id: str, figures: list, sets: tuple, per_image: dict | None) -> None:
    """results.json as a trial logs it, its per-image PSNRs from ``per_image`` (set -> list) or spread evenly."""
    scored = []
    for (psnr, ssim), s in zip(figures, sets):
        values = (per_image or {}).get(s) or spread(psnr, s)
        rows = [{"image": f"{i:03d}.png", "psnr_y": v, "ssim_y": ssim} for i, v in enumerate(values)]
        scored.append({"set": s, "scale": 3, "psnr_y": psnr, "ssim_y": ssim, "images": len(rows), "per_image": rows})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / RESULTS_ARTIFACT
        path.write_text(json.dumps({"sets": scored}))
        tracker.log_artifact(run_id, path)


def add_sweep(tracker: Tracker, experiment: str, sweep: str, params: dict | None = None) -> str:
    """A sweep's parent run, as `srbench sweep` records it."""
    run = tracker.client.create_run(
        experiment,
        run_name=sweep,
        tags={
            TAG_KIND: "sweep",
            TAG_SWEEP: sweep,
            TAG_STUDY: "srcnn_ablation",
            TAG_GIT_COMMIT: "0123456789abcdef",
            TAG_BUDGET_NOTE: "Adam instead of SGD, to fit a CPU trial.",
        },
    )
    tracker.log_params(run.info.run_id, {"budget": "quick", "trials_at_once": 1, **(params or {})})
    tracker.finish(run.info.run_id)
    return run.info.run_id


def add_trial(
    tracker: Tracker,
    experiment: str,
    parent: str | None,
    sweep: str | None,
    variant: str,
    seed: int,
    figures: list,
    params: int,
    wall: float,
    status: str = "FINISHED",
    extra: dict | None = None,
    config_hash: str | None = None,
    sets: tuple = ("Set5", "Set14", "BSD100"),
    per_image: dict | None = None,
    study: str = "srcnn_ablation",
    tags: dict | None = None,
) -> str:
    identity = (
        {TAG_SWEEP: sweep, TAG_CONFIG_HASH: config_hash or f"hash-{variant}", "mlflow.parentRunId": parent}
        if sweep
        else {}
    )
    run_id = tracker.client.create_run(
        experiment,
        run_name=f"{variant}_seed{seed}",
        tags={
            TAG_KIND: "trial",
            TAG_STUDY: study,
            TAG_VARIANT: variant,
            TAG_BUDGET: "quick",
            TAG_EVAL_IMAGES: "all",
            TAG_HARDWARE: "2 x Test CPU (CPU), 1 process",
            TAG_VGG_USED: "none",
            TAG_CONDITION_SOURCE: "none",
            **identity,
            **(tags or {}),
        },
    ).info.run_id
    tracker.log_params(
        run_id,
        {
            "seed": seed,
            "scale": 3,
            "adversarial_weight": 0.0,
            "train_set": "T91",
            "eval_sets": json.dumps(list(sets)),
            **(extra or {}),
        },
    )
    for (psnr, ssim), s in zip(figures, sets):
        tracker.client.log_metric(run_id, final_metric(s, "psnr_y"), psnr, step=FINAL_STEP)
        tracker.client.log_metric(run_id, final_metric(s, "ssim_y"), ssim, step=FINAL_STEP)
    for key, value in (
        ("parameters", params),
        ("macs_per_mp", params * 1e6),
        (ITERATIONS_TRAINED, 20000),
        ("wall_time_s", wall),
    ):
        tracker.client.log_metric(run_id, key, value, step=FINAL_STEP)
    if figures:
        log_results(tracker, run_id, figures, sets, per_image)
    tracker.finish(run_id, status)
    return run_id


def build_store(uri: str, status: str = "FINISHED", trials_at_once: int | None = None) -> None:
    tracker = Tracker(uri)
    experiment = tracker.experiment_id("srcnn_ablation")
    params = {"trials_at_once": trials_at_once, "set.vgg_weights": "random"} if trials_at_once is not None else {}
    parent = add_sweep(tracker, experiment, SWEEP, params)
    for variant, seed, figures, size, wall, *per_image in RUNS:  # a sixth item: the run's per-image PSNRs
        add_trial(
            tracker,
            experiment,
            parent,
            SWEEP,
            variant,
            seed,
            figures,
            size,
            wall,
            status,
            per_image=next(iter(per_image), None),
        )


@pytest.fixture
def store(empty_store):
    build_store(empty_store)
    return empty_store


def rows_of(page: str) -> dict[str, list[str]]:
    return {
        cells[0]: cells
        for line in page.splitlines()
        if line.startswith("| ")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }


def test_markdown_values_bold_bicubic_and_paper_deltas(store, tmp_path, data_root):
    write_leaderboards(["srcnn_ablation"], store, tmp_path / "lb", data_root)
    page = (tmp_path / "lb" / "srcnn_ablation.md").read_text()
    rows = rows_of(page)
    assert "## x3, budget `quick`" in page
    assert rows["bicubic"][1:4] == ["30.40 / 0.8689", "27.63 / 0.7759", "27.21 / 0.7391"]  # = srbench eval bicubic
    # 9-1-5 has two seeds: mean ± sample std; 9-5-5 is best on every PSNR column, 9-1-5 on BSD100 SSIM.
    assert rows["9-1-5"][1] == "31.62 ± 0.03 / 0.8890 ± 0.0014"
    assert rows["9-1-5"][3] == "27.92 ± 0.03 / **0.7755 ± 0.0007**"
    assert rows["9-5-5"][1] == "**31.80** / **0.8910**"
    assert rows["9-5-5"][3] == "**27.95** / 0.7750"
    # Paper columns: 9-1-5 x3 Set5 from both of SRCNN's training sets; 9-5-5 on Set5 only (TPAMI has no BSD100,
    # and the Set14 figures once here were VDSR's re-scoring).
    assert rows["9-1-5"][4] == "32.39[^1] (-0.77); 32.52[^2] (-0.90)"
    assert rows["9-5-5"][4:7] == ["32.75[^2] (-0.95)", "", ""]
    assert rows["9-5-5"][7:11] == ["57,281", "57.28 G", "20,000 (quick)", "900 s"]
    assert (
        "[^1]: Dong, Loy, He, Tang. Image Super-Resolution Using Deep Convolutional Networks. TPAMI 2016, "
        "trained on the 91 images" in page
    )
    assert "Budget `quick` is far below the papers' training" in page
    assert "Training set, from each run's parameters: T91." in page  # from the runs, not the study file
    assert "Recipe at `quick`: Adam instead of SGD, to fit a CPU trial." in page  # the study's budget note
    assert "Wall times are of trials" not in page  # one trial at a time: nothing shared
    assert "Below bicubic" not in page
    assert "Reproduce: `python -m srbench sweep experiments/srcnn_ablation.py --budget quick`." in page
    # 9-5-5 has one seed: tested all the same, paired by image. Every image is 0.18 dB up on Set5 (all 5 of them:
    # p = 2/2^5 = 0.0625, one step so nothing to correct), 0.08 on Set14 (p = 2/2^14) and 0.03 on BSD100.
    assert (
        "- Paper: larger filters are better (9-1-5 < 9-3-5 < 9-5-5)[^3]. Here (without 9-3-5), seeds 2, 1: "
        "Set5 31.62 ± 0.03, 31.80: holds; Set14 28.62 ± 0.03, 28.70: holds; BSD100 27.92 ± 0.03, 27.95: holds."
    ) in page
    assert rows["9-1-5 → 9-5-5"][1:] == [
        "+0.180 [+0.180, +0.180], p = 0.062: holds",
        "+0.080 [+0.080, +0.080], p < 0.001: holds",
        "+0.030 [+0.030, +0.030], p < 0.001: holds",
    ]
    assert "Holm-corrected over this section's steps on the set. A step holds when its interval lies above 0" in page
    assert "Every run's figure per image: [srcnn_ablation-images.csv](srcnn_ablation-images.csv)." in page
    assert "[^3]: Dong, Loy, He, Tang. Image Super-Resolution Using Deep Convolutional Networks. TPAMI 2016\n" in page
    assert "![srcnn_ablation-psnr-vs-params](srcnn_ablation-psnr-vs-params.png)" in page
    assert (tmp_path / "lb" / "srcnn_ablation-psnr-vs-params.png").stat().st_size > 10_000


def test_csv_holds_every_figure(store, tmp_path, data_root):
    write_leaderboards(["srcnn_ablation"], store, tmp_path / "lb", data_root)
    lines = (tmp_path / "lb" / "srcnn_ablation.csv").read_text().splitlines()
    assert lines[0] == (
        "study,scale,budget,sweep,config_hash,variant,set,seeds,psnr,psnr_std,ssim,ssim_std,lpips,lpips_std,vgg_weights,paper_psnr,delta,"
        "parameters,macs_per_mp,iterations,wall_time_s,hardware,run_ids"
    )
    assert lines[1] == "srcnn_ablation,3,,,,bicubic,Set5,,30.4047,,0.86891,,,,,,,,,,,,"
    row = next(line for line in lines if line.startswith(f"srcnn_ablation,3,quick,{SWEEP},hash-9-1-5,9-1-5,Set5,"))
    assert row.startswith(
        f"srcnn_ablation,3,quick,{SWEEP},hash-9-1-5,9-1-5,Set5,2,31.6200,0.0283,0.88900,0.00141,,,none,32.39;32.52,-0.7700;-0.9000,"
        '8129,8129000000,20000,590.0,"2 x Test CPU (CPU), 1 process",'
    )
    assert len(lines) == 1 + 3 + 2 * 3


def test_images_csv_holds_every_runs_figure_per_image(store, tmp_path, data_root):
    write_leaderboards(["srcnn_ablation"], store, tmp_path / "lb", data_root)
    lines = (tmp_path / "lb" / "srcnn_ablation-images.csv").read_text().splitlines()
    assert lines[0] == "study,scale,budget,sweep,config_hash,variant,run_id,seed,set,image,psnr_y,ssim_y"
    assert len(lines) == 1 + 3 * (5 + 14 + 100)  # every run, set and image
    first = lines[1].split(",")
    assert first[:6] == ["srcnn_ablation", "3", "quick", SWEEP, "hash-9-1-5", "9-1-5"]
    assert first[7:10] == ["0", "Set5", "000.png"] and float(first[10]) == spread(31.60, "Set5")[0]  # unrounded
    assert lines[-1].split(",")[5:10][::2] == ["9-5-5", "0", "099.png"]  # the page's row order, then seeds


def test_same_mlflow_contents_give_identical_files(store, tmp_path, data_root):
    write_leaderboards(["srcnn_ablation"], store, tmp_path / "a", data_root)
    write_leaderboards(["srcnn_ablation"], store, tmp_path / "b", data_root)
    for name in ("srcnn_ablation.md", "srcnn_ablation.csv", "srcnn_ablation-images.csv", "README.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_bicubic_row_equals_eval_bicubic(store, tmp_path, data_root):
    write_leaderboards(["srcnn_ablation"], store, tmp_path / "lb", data_root)
    scores = evaluate_reference("bicubic", [get_spec("Set5")], [3], data_root)
    csv = (tmp_path / "lb" / "srcnn_ablation.csv").read_text()
    assert f"bicubic,Set5,,{scores[0].psnr_y:.4f},,{scores[0].ssim_y:.5f}" in csv


def test_rows_scored_on_a_subset_are_set_beside_bicubic_on_the_same_images(tmp_path, data_root, empty_store):
    uri = empty_store
    tracker = Tracker(uri)
    experiment = tracker.experiment_id("srcnn_ablation")
    parent = add_sweep(tracker, experiment, SWEEP)
    run_id = add_trial(
        tracker, experiment, parent, SWEEP, "9-1-5", 0, [(31.0, 0.88)] * 3, 8129, 500.0, extra={"train_images": 4}
    )
    tracker.set_tags(run_id, {TAG_EVAL_IMAGES: "first 2 per set (subset)"})
    write_leaderboards(["srcnn_ablation"], uri, tmp_path / "lb", data_root)
    assert (
        "Training set, from each run's parameters: T91 (first 4 images)."
        in (tmp_path / "lb" / "srcnn_ablation.md").read_text()
    )
    [subset] = evaluate_reference("bicubic", [get_spec("Set5")], [3], data_root, limit=2)
    [whole] = evaluate_reference("bicubic", [get_spec("Set5")], [3], data_root)
    row = rows_of((tmp_path / "lb" / "srcnn_ablation.md").read_text())["bicubic (first 2 per set)"]
    assert row[1].startswith(f"{subset.psnr_y:.2f} / ") and f"{subset.psnr_y:.2f}" != f"{whole.psnr_y:.2f}"
    # and the PSNR-vs-size plot draws the same subset's bicubic line beside these points
    runs = load_runs(tracker, "srcnn_ablation")
    bicubic = {**bicubic_scores([3], data_root, ["Set5"]), **bicubic_scores([3], data_root, ["Set5"], limit=2)}
    assert plot_baselines(aggregate(runs), Baselines(bicubic), "Set5") == {(3, "quick"): pytest.approx(subset.psnr_y)}


def test_leaderboard_cli(store, tmp_path, data_root, capsys):
    code = main(["leaderboard", "--tracking-uri", store, "--out", str(tmp_path / "lb"), "--data-root", str(data_root)])
    assert code == 0 and "[srcnn_ablation](srcnn_ablation.md)" in (tmp_path / "lb" / "README.md").read_text()
    code = main(["leaderboard", "--tracking-uri", store, "--experiment", "nope", "--out", str(tmp_path / "lb")])
    assert code == 2 and "--experiment 'nope' has no srbench runs" in capsys.readouterr().err


def test_a_page_is_never_replaced_by_one_that_drops_its_budget(store, tmp_path, data_root, capsys):
    """A committed `paper` page and a store with only `quick` runs: the page (and its pictures) stay unless asked."""
    out = tmp_path / "lb"
    out.mkdir()
    committed = "# srcnn_ablation\n\n## x3, budget `paper`\n\n| variant |\n"
    (out / "srcnn_ablation.md").write_text(committed)
    # A page without its sidecar says nothing of what it shows: kept too.
    assert main(["leaderboard", "--tracking-uri", store, "--out", str(out), "--data-root", str(data_root)]) == 0
    assert "no srcnn_ablation.json says srbench wrote it, or what it shows" in capsys.readouterr().err
    sidecar = {
        "study": "srcnn_ablation",
        "sections": [{"scale": 3, "budget": "paper", "sweep": "s", "started": "", "commit": "c"}],
    }
    (out / "srcnn_ablation.json").write_text(json.dumps(sidecar))
    assert main(["leaderboard", "--tracking-uri", store, "--out", str(out), "--data-root", str(data_root)]) == 0
    assert (out / "srcnn_ablation.md").read_text() == committed and not list(out.glob("*.png"))
    assert "kept " in capsys.readouterr().err
    # the index says what the kept page shows, from its sidecar
    assert (
        "- [srcnn_ablation](srcnn_ablation.md) ([CSV](srcnn_ablation.csv)): x3 `paper`, sweep `s`, commit `c`\n"
        in (out / "README.md").read_text()
    )
    assert (
        main(["leaderboard", "--tracking-uri", store, "--out", str(out), "--data-root", str(data_root), "--replace"])
        == 0
    )
    assert json.loads((out / "srcnn_ablation.json").read_text())["sections"][0]["budget"] == "quick"
    assert "## x3, budget `quick`" in (out / "srcnn_ablation.md").read_text()
    # the same budget is replaced by a newer page without asking
    assert main(["leaderboard", "--tracking-uri", store, "--out", str(out), "--data-root", str(data_root)]) == 0
    assert "kept " not in capsys.readouterr().err


def test_files_of_the_users_own_in_the_output_folder_are_kept(store, tmp_path, data_root, capsys):
    """A README.md, a study's CSV or a comparison page of the same name that srbench did not write: kept, and said
    so (that study's page is not written, nor the folder's index); --replace or another --out writes them."""
    out = tmp_path / "lb"
    out.mkdir()
    mine = {name: f"my own {name}\n" for name in ("README.md", "srcnn_ablation.csv", "srcnn_ablation-compare.md")}
    for name, text in mine.items():
        (out / name).write_text(text)
    argv = ["leaderboard", "--tracking-uri", store, "--out", str(out), "--data-root", str(data_root)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"kept {out / 'srcnn_ablation.csv'}: no srcnn_ablation.json says srbench wrote it" in err
    assert f"kept {out / 'README.md'}: srbench did not write it" in err
    sweep = load_runs(Tracker(store), "srcnn_ablation")["sweep"].iloc[0]
    assert main([*argv, "--compare", sweep, "other-sweep"]) == 2
    assert "srcnn_ablation-compare.md exists and srbench did not write it" in capsys.readouterr().err
    assert main([*argv, "--compare", sweep, sweep]) == 2
    assert "give two different sweeps" in capsys.readouterr().err
    assert {name: (out / name).read_text() for name in mine} == mine and not (out / "srcnn_ablation.md").exists()


SET14_UP = (  # two steps up on Set14, per image, each with a few images the other way
    [0.05, 0.08, 0.02, 0.06, -0.03, 0.09, 0.04, 0.07, -0.02, 0.05, 0.03, 0.10, 0.01, 0.06],
    [0.06, 0.12, 0.04, -0.05, 0.09, 0.03, 0.11, -0.02, 0.05, 0.08, 0.02, 0.07, -0.04, 0.10],
)


def ordering_runs() -> list:
    """9-1-5 < 9-3-5 < 9-5-5 with two seeds each (±0.02 dB on every image, which the per-image means cancel): on
    Set5 every image falls 0.10 dB, then rises 0.05; on Set14 both steps rise on most images (SET14_UP); on BSD100
    they go either way. And a failed 9-3-3-3-5."""
    base = {s: spread(30.0, s) for s in SIZES}
    wobble = [0.3 * (-1) ** i * (i % 3) for i in range(100)]  # zero-mean over every 6 images
    second = [a + b for a, b in zip(*SET14_UP)]
    steps = {
        "9-1-5": {s: [0.0] * n for s, n in SIZES.items()},
        "9-3-5": {"Set5": [-0.10] * 5, "Set14": SET14_UP[0], "BSD100": wobble},
        "9-5-5": {"Set5": [-0.05] * 5, "Set14": second, "BSD100": wobble[::-1]},
    }
    runs = []
    for size, (variant, up) in zip((8129, 24513, 57281), steps.items()):
        for seed, d in ((0, -0.02), (1, 0.02)):
            per_image = {s: [b + u + d for b, u in zip(base[s], up[s])] for s in SIZES}
            figures = [(sum(v) / len(v), 0.8) for v in per_image.values()]
            runs.append((variant, seed, figures, size, 600.0, per_image))
    return [*runs, ("9-3-3-3-5", 0, [(12.66, 0.4312), (13.88, 0.4169), (14.64, 0.4126)], 31057, 800.0, None)]


def test_orderings_are_tested_on_paired_images_and_failed_trials_are_reported(tmp_path, data_root, monkeypatch):
    monkeypatch.setattr("test_leaderboard.RUNS", ordering_runs())
    build_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    write_leaderboards(["srcnn_ablation"], f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "lb", data_root)
    page = (tmp_path / "lb" / "srcnn_ablation.md").read_text()
    rows = rows_of(page)
    assert (
        "Here, seeds 2, 2, 2: Set5 30.00 ± 0.03, 29.90 ± 0.03, 29.95 ± 0.03: **does not hold**; "
        "Set14 30.00 ± 0.03, 30.04 ± 0.03, 30.09 ± 0.03: holds; "
        "BSD100 30.00 ± 0.03, 30.00 ± 0.03, 30.00 ± 0.03: not resolved (a step's interval contains 0)."
    ) in page
    # Set5: a constant -0.10 then +0.05 on all 5 images: each p = 2/32 before Holm, 2 x 0.0625 after it. Set14:
    # Wilcoxon p 0.0042 and 0.0120 (SET14_UP), Holm: 2 x 0.0042, then 0.0120.
    assert rows["9-1-5 → 9-3-5"][1:] == [
        "-0.100 [-0.100, -0.100], p = 0.125: **reversed**",
        "+0.044 [+0.024, +0.062], p = 0.008: holds",
        "+0.003 [-0.072, +0.078], p = 1.000: not resolved",
    ]
    assert rows["9-3-5 → 9-5-5"][1:] == [
        "+0.050 [+0.050, +0.050], p = 0.125: holds",
        "+0.047 [+0.019, +0.074], p = 0.012: holds",
        "+0.000 [-0.144, +0.144], p = 1.000: not resolved",
    ]
    assert (
        "Below bicubic on every set at the end of this budget (the validation curves show whether they did not "
        "train or were still climbing): "
        "9-3-3-3-5."
    ) in page


def test_a_step_on_the_page_is_recomputed_from_the_images_csv(tmp_path, data_root, monkeypatch):
    """Anyone with the committed files: the per-image CSV gives the page's difference, interval and p."""
    monkeypatch.setattr("test_leaderboard.RUNS", ordering_runs())
    build_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    write_leaderboards(["srcnn_ablation"], f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "lb", data_root)
    images = pd.read_csv(tmp_path / "lb" / "srcnn_ablation-images.csv")
    assert len(images) == 6 * 119 + 119  # every run's every image: 2 seeds x 3 variants, and the failed one
    set14 = images[images["set"] == "Set14"]

    def mean_per_image(variant):  # the seeds averaged per image first, as the page does
        return set14[set14["variant"] == variant].groupby("image")["psnr_y"].mean()

    means = {v: mean_per_image(v) for v in ("9-1-5", "9-3-5", "9-5-5")}
    first, second = paired_step(means["9-1-5"], means["9-3-5"]), paired_step(means["9-3-5"], means["9-5-5"])
    diffs = (means["9-3-5"] - means["9-1-5"]).to_numpy()
    assert first.p == stats.wilcoxon(diffs).pvalue and first.difference == pytest.approx(diffs.mean())
    p_holm = holm([first.p, second.p])[0]
    cell = rows_of((tmp_path / "lb" / "srcnn_ablation.md").read_text())["9-1-5 → 9-3-5"][2]
    assert cell == f"{first.difference:+.3f} [{first.low:+.3f}, {first.high:+.3f}], p = {p_holm:.3f}: holds"
    runs = load_runs(Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}"), "srcnn_ablation")
    assert set(images["run_id"]) == set(runs["run_id"])  # every run of the page, with its seed and configuration
    assert images.groupby("run_id")["seed"].first().to_dict() == runs.set_index("run_id")["seed"].to_dict()


def test_wall_times_of_trials_that_shared_the_machine_are_flagged(tmp_path, data_root):
    build_store(f"sqlite:///{tmp_path / 'mlflow.db'}", trials_at_once=2)
    write_leaderboards(["srcnn_ablation"], f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "lb", data_root)
    page = (tmp_path / "lb" / "srcnn_ablation.md").read_text()
    assert (
        "Wall times are of trials that ran up to 2 at a time on the hardware shown, sharing it: they are not "
        "speed measurements."
    ) in page
    assert (
        "Reproduce: `python -m srbench sweep experiments/srcnn_ablation.py --budget quick --set vgg_weights=random`."
        in page
    )


def test_gan_study_shows_lpips_and_says_why_it_is_missing(tmp_path, data_root, empty_store):
    """LPIPS per set (lowest in bold); no ImageNet trunk -> n/a; non-ImageNet VGG or LPIPS trunks -> not comparable."""
    uri = empty_store
    tracker = Tracker(uri)
    experiment = tracker.experiment_id("srgan_content_loss")
    imagenet, random_trunk = (
        "LPIPS v0.1 AlexNet, trunk imagenet",
        "LPIPS v0.1 AlexNet, trunk random (not ImageNet: not comparable)",
    )
    for variant, vgg, label, lpips, psnr in (
        ("SRResNet-MSE", "none", imagenet, (0.30, 0.40, 0.50), 29.0),
        ("SRGAN-VGG54", "random (not ImageNet: not comparable)", random_trunk, (0.20, 0.45, 0.50), 29.0),
        ("SRResNet-VGG22", "file vgg19-dcbb9e9d.pth", imagenet, (0.35, 0.50, 0.60), 28.0),  # a genuine local copy
        ("SRGAN-MSE", "none", "n/a: no ImageNet weights", None, 20.0),
    ):  # below bicubic everywhere
        # Recorded with the names of runs from before srbench.run_names (param variant, tag vgg_weights, finals at
        # the last iteration): such runs still show.
        run_id = tracker.client.create_run(
            experiment,
            run_name=f"{variant}_seed0",
            tags={
                TAG_KIND: "trial",
                TAG_STUDY: "srgan_content_loss",
                "budget": "quick",
                "eval_images": "all",
                "hardware": "2 x Test CPU (CPU), 1 process",
                "vgg_weights": vgg,
                "condition_source": "none",
                "lpips": label,
            },
        ).info.run_id
        tracker.log_params(
            run_id,
            {
                "variant": variant,
                "seed": 0,
                "scale": 4,
                "adversarial_weight": 0.0 if variant.startswith("SRResNet") else 1e-3,
            },
        )
        for i, s in enumerate(("Set5", "Set14", "BSD100")):
            tracker.client.log_metric(run_id, f"{s}.psnr_y", psnr + i, step=1000)
            tracker.client.log_metric(run_id, f"{s}.ssim_y", 0.8, step=1000)
            if lpips is not None:
                tracker.client.log_metric(run_id, f"{s}.lpips", lpips[i], step=1000)
        for key, value in (("parameters", 1_500_000), ("macs_per_mp", 1e11), ("iterations", 1000), ("wall_time_s", 60)):
            tracker.client.log_metric(run_id, key, value, step=1000)
        tracker.finish(run_id, "FINISHED")
    write_leaderboards(["srgan_content_loss"], uri, tmp_path / "lb", data_root)
    page = (tmp_path / "lb" / "srgan_content_loss.md").read_text()
    rows = rows_of(page)
    assert rows["variant"][7] == "LPIPS ↓ Set5 / Set14 / BSD100"
    assert rows["SRResNet-MSE"][7] == "0.3000 / **0.4000** / **0.5000**"
    # Random VGG weights: the row is marked and the paper's figure has no Δ.
    assert rows["SRGAN-VGG54 †"][7] == "**0.2000** / 0.4500 / **0.5000**"
    assert rows["SRGAN-VGG54 †"][4:7] == [
        "29.40[^1] (not comparable)",
        "26.02[^1] (not comparable)",
        "25.16[^1] (not comparable)",
    ]
    assert rows["SRGAN-MSE"][7] == "n/a: no ImageNet weights"
    assert rows["bicubic"][7] == ""
    assert rows["SRResNet-MSE"][4] == "32.05[^1] (-3.05)"  # SRGAN paper, Table 1
    assert rows["SRResNet-VGG22"][4] == "30.51[^1] (-2.51)"  # ImageNet weights from a local file: comparable
    assert (
        "† VGG content loss with non-ImageNet weights (random): not comparable with the paper, so no Δ is given."
        in page
    )
    assert f"LPIPS used a non-ImageNet AlexNet trunk ({random_trunk}): not comparable with published LPIPS." in page
    assert "Adversarially trained variants trade PSNR / SSIM for texture" in page
    assert "Below bicubic" not in page  # SRGAN-MSE is, but adversarial rows are not flagged as failed
    csv = (tmp_path / "lb" / "srgan_content_loss.csv").read_text()
    assert "srgan_content_loss,4,quick,(no sweep id),params:" in csv  # runs recorded before sweeps had ids
    assert (",SRGAN-VGG54,Set14,1,30.0000,,0.80000,,0.45000,,random (not ImageNet: not comparable),26.02,,") in csv
    assert ",SRResNet-MSE,Set5,1,29.0000,,0.80000,,0.30000,,none,32.05,-3.0500," in csv


def test_gan_page_has_niqe_for_every_row_bicubic_and_hr_and_a_perception_distortion_plane(
    tmp_path, data_root, empty_store
):
    """NIQE (no weights) on every row of a GAN page: the runs' own, bicubic's and the HR images' computed with the
    protocol on the same images; the plane is drawn and shown; the CSV has the reference rows' NIQE."""
    uri = empty_store
    tracker = Tracker(uri)
    experiment = tracker.experiment_id("srgan_content_loss")
    for variant, psnr, niqe in (("SRResNet-MSE", 29.0, 6.5), ("SRGAN-MSE", 27.0, 4.0), ("SRGAN-VGG54", 26.0, 5.0)):
        run_id = add_trial(
            tracker,
            experiment,
            None,
            None,
            variant,
            0,
            [(psnr, 0.8)],
            1_000_000,
            60.0,
            extra={"scale": 4, "adversarial_weight": 0.0 if "SRResNet" in variant else 1e-3, "content_loss": variant},
            sets=("Set5",),
            study="srgan_content_loss",
            tags={TAG_METRICS: json.dumps([get_metric("niqe").describe()])},
        )
        tracker.client.log_metric(run_id, final_metric("Set5", "niqe"), niqe, step=FINAL_STEP)
    write_leaderboards(["srgan_content_loss"], uri, tmp_path / "lb", data_root)
    page = (tmp_path / "lb" / "srgan_content_loss.md").read_text()
    rows = rows_of(page)
    column = rows["variant"].index("NIQE ↓ Set5")
    scorers = prepare([get_metric("niqe")], {})
    [bicubic] = evaluate_reference("bicubic", [get_spec("Set5")], [4], data_root, scorers=scorers)
    [hr] = evaluate_reference("hr", [get_spec("Set5")], [4], data_root, scorers=scorers)
    assert rows["bicubic"][column] == f"{bicubic.figures['niqe']:.2f}"
    assert rows["HR (the images themselves)"][column] == f"{hr.figures['niqe']:.2f}"
    assert rows["HR (the images themselves)"][1] == ""  # no PSNR / SSIM of HR against itself
    assert [rows[v][column] for v in ("SRResNet-MSE", "SRGAN-MSE", "SRGAN-VGG54")] == ["6.50", "**4.00**", "5.00"]
    assert "![srgan_content_loss-perception-distortion](srgan_content_loss-perception-distortion.png)" in page
    assert "PI (PIRM 2018, ½((10 − Ma) + NIQE)) is not scored" in page
    assert (tmp_path / "lb" / "srgan_content_loss-perception-distortion.png").stat().st_size > 10_000
    csv = pd.read_csv(tmp_path / "lb" / "srgan_content_loss.csv")
    hr_row = csv[csv["variant"] == "HR (the images themselves)"].iloc[0]
    assert hr_row["niqe"] == pytest.approx(hr.figures["niqe"], abs=5e-4) and pd.isna(hr_row["psnr"])


def test_pareto_front_keeps_the_points_nothing_beats_on_both_axes():
    # lower NIQE is better: (26, 5.0) is beaten by (27, 4.0) on both axes
    assert pareto_front(pd.Series([29.0, 27.0, 26.0]), pd.Series([6.5, 4.0, 5.0]), False) == ([27.0, 29.0], [4.0, 6.5])
    # higher is better: the best PSNR alone when it is also the best perceived
    assert pareto_front(pd.Series([29.0, 27.0]), pd.Series([0.9, 0.5]), True) == ([29.0], [0.9])


FIGURES = [(31.0, 0.88), (28.0, 0.80), (27.0, 0.77)]


def test_page_shows_the_latest_sweep_and_pools_only_one_configuration(tmp_path, data_root, empty_store):
    """Two sweeps of a study: the page shows the latest, named with its commit; a sweep with two configurations of
    one variant (a search) keeps them apart, with a top-k table; --sweep shows another; stopped trials stand apart."""
    uri = empty_store
    tracker = Tracker(uri)
    experiment = tracker.experiment_id("srcnn_ablation")
    old = add_sweep(tracker, experiment, "srcnn_ablation-quick-20261101-000000-0001")
    old_run = add_trial(
        tracker,
        experiment,
        old,
        "srcnn_ablation-quick-20261101-000000-0001",
        "9-1-5",
        0,
        [(30.0, 0.87), (27.0, 0.78), (26.0, 0.75)],
        8129,
        500.0,
    )
    new = add_sweep(tracker, experiment, SWEEP, {"set.lr": "0.001"})
    low = [
        add_trial(
            tracker,
            experiment,
            new,
            SWEEP,
            "9-1-5",
            seed,
            [(31.0 + seed / 10, 0.88)] * 3,
            8129,
            500.0,
            extra={"lr": "0.001"},
            config_hash="h-low",
        )
        for seed in (0, 1)
    ]
    high = add_trial(
        tracker,
        experiment,
        new,
        SWEEP,
        "9-1-5",
        0,
        [(32.0, 0.89)] * 3,
        8129,
        500.0,
        extra={"lr": "0.01"},
        config_hash="h-high",
    )
    stopped = add_trial(
        tracker,
        experiment,
        new,
        SWEEP,
        "9-1-5",
        0,
        [],
        8129,
        10.0,
        status="KILLED",
        extra={"lr": "1e-05"},
        config_hash="h-stopped",
    )
    tracker.set_tags(stopped, {TAG_STOPPED_EARLY: 2500})
    tracker.client.log_metric(stopped, "val.Set5.psnr_y", 12.5, step=2500)
    write_leaderboards(["srcnn_ablation"], uri, tmp_path / "lb", data_root)
    page = (tmp_path / "lb" / "srcnn_ablation.md").read_text()
    rows = rows_of(page)
    assert f"Sweep `{SWEEP}` (started " in page and "git commit `0123456789ab`" in page
    index = (tmp_path / "lb" / "README.md").read_text()  # the index names the page's sweep and code too
    assert (
        f"- [srcnn_ablation](srcnn_ablation.md) ([CSV](srcnn_ablation.csv), [per image](srcnn_ablation-images.csv)): "
        f"x3 `quick`, sweep `{SWEEP}`, "
        f"commit `0123456789ab`\n" in index
    )
    assert old_run not in page  # the older sweep is not on the page, let alone averaged in
    assert rows["9-1-5_lr=0.001"][1] == "31.05 ± 0.07 / 0.8800 ± 0.0000" and low[0] in rows["9-1-5_lr=0.001"][-1]
    assert rows["9-1-5_lr=0.01"][1] == "**32.00** / **0.8900**" and high in rows["9-1-5_lr=0.01"][-1]
    assert "Top 2 of 2 configurations by Set5 Y-PSNR:" in page and rows["1"][1] == "9-1-5_lr=0.01"
    assert rows["9-1-5_seed0"] == ["9-1-5_seed0", "2,500", "12.50", f"`{stopped}`"]  # stopped early, apart
    assert "Orderings the paper reports" not in page  # no single figure per variant to order
    assert (tmp_path / "lb" / "srcnn_ablation-search.png").exists()
    write_leaderboards(
        ["srcnn_ablation"], uri, tmp_path / "old", data_root, sweep="srcnn_ablation-quick-20261101-000000-0001"
    )
    older = (tmp_path / "old" / "srcnn_ablation.md").read_text()
    assert old_run in older and high not in older and "Sweep `srcnn_ablation-quick-20261101-000000-0001`" in older


def test_runs_of_one_configuration_trained_at_different_precisions_are_not_pooled(tmp_path, data_root, empty_store):
    """``precision: auto`` resolves per node: a bf16 and an fp32 run of one configuration hash are two rows."""
    uri = empty_store
    tracker = Tracker(uri)
    experiment = tracker.experiment_id("srcnn_ablation")
    parent = add_sweep(tracker, experiment, SWEEP)
    for seed, precision, psnr in ((0, "bf16", 31.0), (1, "bf16", 31.2), (2, "fp32", 32.0)):
        add_trial(
            tracker,
            experiment,
            parent,
            SWEEP,
            "9-1-5",
            seed,
            [(psnr, 0.88)] * 3,
            8129,
            500.0,
            extra={"precision_used": precision},
            config_hash="h-auto",
        )
    write_leaderboards(["srcnn_ablation"], uri, tmp_path / "lb", data_root)
    rows = rows_of((tmp_path / "lb" / "srcnn_ablation.md").read_text())
    assert rows["9-1-5_precision_used=bf16"][1].startswith("31.10 ± 0.14 / ")
    assert rows["9-1-5_precision_used=fp32"][1].startswith("**32.00** / ")


def test_columns_follow_the_study_eval_sets(tmp_path, data_root, empty_store):
    uri = empty_store
    tracker = Tracker(uri)
    experiment = tracker.experiment_id("srcnn_ablation")
    parent = add_sweep(tracker, experiment, SWEEP)
    add_trial(
        tracker, experiment, parent, SWEEP, "9-1-5", 0, [(31.0, 0.88), (28.0, 0.8)], 8129, 500.0, sets=("Set14", "Set5")
    )
    write_leaderboards(["srcnn_ablation"], uri, tmp_path / "lb", data_root)
    header = rows_of((tmp_path / "lb" / "srcnn_ablation.md").read_text())["variant"]
    assert header[1:5] == ["Set14 PSNR / SSIM", "Set5 PSNR / SSIM", "Set14 paper (Δ)", "Set5 paper (Δ)"]
    assert "BSD100" not in " ".join(header)


def test_rows_follow_the_study_order_not_the_alphabet(tmp_path, data_root, empty_store):
    uri = empty_store
    tracker = Tracker(uri)
    experiment = tracker.experiment_id("srcnn_ablation")
    parent = add_sweep(tracker, experiment, SWEEP)
    for order, variant in enumerate(["9-5-5", "9-1-5", "11-1-7"]):  # as a study file lists them
        run_id = add_trial(tracker, experiment, parent, SWEEP, variant, 0, [(31.0, 0.88)] * 3, 8129, 500.0)
        tracker.set_tags(run_id, {TAG_VARIANT_ORDER: order})
    write_leaderboards(["srcnn_ablation"], uri, tmp_path / "lb", data_root)
    page = (tmp_path / "lb" / "srcnn_ablation.md").read_text()
    table = [
        line.split("|")[1].strip()
        for line in page.split("## x3")[1].splitlines()
        if line.startswith("| ") and line.split("|")[1].strip() in ("9-5-5", "9-1-5", "11-1-7")
    ]
    assert table[:3] == ["9-5-5", "9-1-5", "11-1-7"]


def test_leaderboard_reads_every_run_of_a_large_store(tmp_path, data_root, empty_store):
    """A store of 2,520 trial runs (more than two pages of MLflow's search): every one is read."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("leaderboard_scale", REPO / "benchmarks" / "leaderboard_scale.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    build_large_store = benchmark.build_large_store

    uri = empty_store
    build_large_store(uri, runs=2520)
    runs = load_runs(Tracker(uri), "srcnn_ablation")
    assert len(runs) == 2520 and runs["run_id"].is_unique
    write_leaderboards(["srcnn_ablation"], uri, tmp_path / "lb", data_root)
    rows = rows_of((tmp_path / "lb" / "srcnn_ablation.md").read_text())
    assert rows["9-1-5"][1].startswith("31.00 ± 0.00") and all(v in rows for v in benchmark.VARIANTS)
    csv = (tmp_path / "lb" / "srcnn_ablation.csv").read_text()
    assert ",hash-9-1-5,9-1-5,Set5,315,31.0000,0.0000," in csv  # 2,520 runs = 8 variants x 315 seeds, all pooled


def test_compare_tests_each_change_paired_by_image(tmp_path, data_root, empty_store):
    """Two sweeps: 9-1-5 rose on Set14 (SET14_UP's first step), 9-5-5 did not move; Holm over the two rows."""
    uri = empty_store
    tracker = Tracker(uri)
    experiment = tracker.experiment_id("srcnn_ablation")
    old = "srcnn_ablation-quick-20261101-000000-0001"
    for sweep, up in ((old, [0.0] * 14), (SWEEP, SET14_UP[0])):
        parent = add_sweep(tracker, experiment, sweep)
        for variant, change in (("9-1-5", up), ("9-5-5", [0.0] * 14)):
            per_image = [v + u for v, u in zip(spread(28.0, "Set14"), change)]
            figures = [(sum(per_image) / 14, 0.8)]
            add_trial(
                tracker,
                experiment,
                parent,
                sweep,
                variant,
                0,
                figures,
                8129,
                500.0,
                sets=("Set14",),
                per_image={"Set14": per_image},
            )
    assert main(["leaderboard", "--tracking-uri", uri, "--out", str(tmp_path / "cmp"), "--compare", old, SWEEP]) == 0
    page = (tmp_path / "cmp" / "srcnn_ablation-compare.md").read_text()
    rows = rows_of(page)
    assert rows["variant"] == ["variant", "Set14 A", "Set14 B", "Set14 Δ", "Set14 Δ paired"]
    # Wilcoxon p 0.0042 on 9-1-5, 1 on 9-5-5 (no change at all): Holm 2 x 0.0042, and 1
    assert rows["9-1-5"] == ["9-1-5", "28.00", "28.04", "+0.04", "+0.044 [+0.024, +0.062], p = 0.008"]
    assert rows["9-5-5"] == ["9-5-5", "28.00", "28.00", "+0.00", "+0.000 [+0.000, +0.000], p = 1.000"]
    assert "Holm-corrected over this table's rows on the set. A change is resolved when its interval excludes 0" in page
