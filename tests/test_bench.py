"""``srbench bench``: a file x set scored as ``srbench eval --weights`` scores it, runs found again by the file's
SHA-256 and the protocol, the page from a real MLflow store, one-line refusals. The end-to-end test (its name holds
``_ray_``) starts a local Ray; the others never do (``-k "not _ray_"`` leaves it out)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import torch
from spandrel.architectures.Compact import Compact
from spandrel.architectures.RCAN import RCAN

from srbench.bench.checkpoints import file_sha256, parse_entry, prepare_checkpoint
from srbench.bench.record import (
    BenchProtocol,
    bench_rows,
    code_identity,
    experiment_name,
    find_scored,
    log_bench_run,
    weights_identity,
)
from srbench.bench.score import SetResult, score_checkpoint_on_set, score_shipped
from srbench.bench.shipping import absolute_setting, land, landed_reference, pack, shipment
from srbench.cli import main
from srbench.data import save_png
from srbench.evaluate import SetScore
from srbench.metrics import METRICS
from srbench.models import build_model
from srbench.report.baseline import bicubic_scores
from srbench.report.bench_page import write_bench_page
from srbench.tracking.names import PER_IMAGE_TABLE, RESULTS_ARTIFACT, TAG_SHA256
from srbench.tracking.store import Tracker
from srbench.user_code import absolute_references

from user_networks import TINY_SR

# spandrel's builders call torch.meshgrid without indexing= (SwinIR-like ones): theirs to heed
pytestmark = pytest.mark.filterwarnings("ignore:torch.meshgrid:UserWarning")


def _save_compact(path: Path, seed: int, scale: int = 3) -> Path:
    """A tiny, seeded Real-ESRGAN Compact network's state dict: spandrel detects it."""
    torch.manual_seed(seed)
    torch.save(Compact(num_feat=8, num_conv=2, upscale=scale).state_dict(), path)
    return path


def _save_rcan(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    torch.save(RCAN(scale=3, n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4).state_dict(), path)
    return path


def _eval_json(path: Path, capsys) -> dict:
    code = main(["eval", "--weights", str(path), "--sets", "Set5", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    [result] = json.loads(captured.out)["results"]
    return result


def test_a_file_on_a_set_scores_as_eval_weights_does(tmp_path, capsys, data_root):
    files = [_save_compact(tmp_path / "a.pth", 0), _save_rcan(tmp_path / "b.pth", 1)]
    for path in files:
        result = score_checkpoint_on_set(parse_entry(str(path)), "Set5", 3, [], data_root)
        expected = _eval_json(path, capsys)
        assert result.score.as_dict() == expected  # the same figures, per set and per image, to the last bit
        assert result.seconds > 0 and result.hardware


def test_a_model_named_for_its_file_scores_as_eval_model_does(tmp_path, capsys, data_root):
    torch.manual_seed(0)
    torch.save(build_model({"name": "srcnn"}).state_dict(), tmp_path / "srcnn.pth")
    checkpoint = parse_entry(f"srcnn={tmp_path / 'srcnn.pth'}")
    assert checkpoint.model == "srcnn" and prepare_checkpoint(checkpoint, [3]).architecture == "srcnn"
    result = score_checkpoint_on_set(checkpoint, "Set5", 3, [], data_root)
    weights = str(tmp_path / "srcnn.pth")
    code = main(["eval", "--model", "srcnn", "--weights", weights, "--scales", "3", "--sets", "Set5", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert [result.score.as_dict()] == json.loads(captured.out)["results"]


def test_a_task_scores_its_metrics_on_the_device_it_runs_the_network_on(tmp_path, data_root, monkeypatch):
    """No GPU needed: the task's device stands in as ``meta``, and evaluate_model records where it was asked to
    score (the metrics once ran on the CPU beside a GPU network)."""
    calls = []

    def evaluate(resolve, *args, **kwargs):
        calls.append((next(resolve.model.parameters()).device, kwargs.get("device")))
        return [_sets(("Set5",), 30.0)[0].score]

    monkeypatch.setattr("srbench.bench.score.task_device", lambda: torch.device("meta"))
    monkeypatch.setattr("srbench.bench.score.evaluate_model", evaluate)
    score_checkpoint_on_set(parse_entry(str(_save_compact(tmp_path / "a.pth", 0))), "Set5", 3, [], data_root)
    assert calls == [(torch.device("meta"), torch.device("meta"))]


# a metric of one's own in a file.py, as `--metrics lab/metrics.py:GREY` names it
GREY_METRIC = """
import torch
from srbench.metrics import Metric

GREY = Metric("shipped_grey", "Grey", higher_is_better=True, digits=1,
              compute=lambda sr, hr, shave: torch.full((sr.shape[0],), 7.0, dtype=torch.float64))
"""


def test_a_task_scores_a_file_py_network_and_metric_its_node_has_not_got(tmp_path, data_root, monkeypatch):
    """A cluster's node lacks the driver's lab/: the task gets the files' bytes and imports landed copies."""
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "nets.py").write_text(TINY_SR)
    (lab / "metrics.py").write_text(GREY_METRIC)
    built: dict = {}
    exec(TINY_SR, built)
    torch.manual_seed(0)
    torch.save(built["TinySR"](scale=3).state_dict(), tmp_path / "tiny.pth")
    monkeypatch.chdir(tmp_path)
    checkpoint = parse_entry("lab/nets.py:TinySR=tiny.pth")
    metrics = absolute_references(["lab/metrics.py:GREY"])  # as bench's --metrics makes them
    shipped = shipment([checkpoint.model, "srcnn"], metrics, {})
    assert set(shipped.code) == {str(lab / "nets.py"), str(lab / "metrics.py")} and not shipped.weights
    expected = score_checkpoint_on_set(checkpoint, "Set5", 3, [], data_root)  # the driver's files
    lab.rename(tmp_path / "elsewhere")
    try:
        result = score_shipped(checkpoint, (tmp_path / "tiny.pth").read_bytes(), shipped, "Set5", 3, data_root)
    finally:
        METRICS.pop("shipped_grey", None)  # the registry is process-wide
    assert result.score.figures == {**expected.score.figures, "shipped_grey": 7.0}


def test_shipped_files_land_once_by_their_contents_under_their_own_names(tmp_path):
    first, second = tmp_path / "a" / "nets.py", tmp_path / "b" / "nets.py"  # one name, two contents
    for path, text in ((first, "A = 1"), (second, "A = 2")):
        path.parent.mkdir()
        path.write_text(text)
    local = land(pack([str(first), str(second), str(first)]), tmp_path / "node")
    assert Path(local[str(first)]).read_text() == "A = 1" and Path(local[str(second)]).read_text() == "A = 2"
    assert Path(local[str(first)]).name == "nets.py" and local[str(first)] != local[str(second)]
    assert land(pack([str(first)]), tmp_path / "node") == {str(first): local[str(first)]}  # found again
    assert landed_reference(f"{first}:TinySR", local) == f"{local[str(first)]}:TinySR"
    assert [landed_reference(r, local) for r in ("srcnn", "mylab.nets:TinySR")] == ["srcnn", "mylab.nets:TinySR"]


def _sets(names: tuple[str, ...], psnr: float, scale: int = 3, lpips: str | None = None) -> list[SetResult]:
    """Figures as a task returns them, made up (the page and the store care about their values, not their origin);
    with LPIPS where ``lpips`` labels its weights."""
    figures = {"psnr_y": psnr, "ssim_y": 0.9, "psnr_rgb": psnr - 1, **({"lpips": 0.25} if lpips else {})}
    weights = {"lpips": lpips} if lpips else {}
    return [
        SetResult(
            SetScore(name, scale, 1, {**figures, "psnr_y": psnr - i}, [{"image": "baby.png", **figures}]),
            1.0,
            "CPU",
            weights,
        )
        for i, name in enumerate(names)
    ]


@pytest.fixture
def store(empty_store):
    tracker = Tracker(empty_store)
    return tracker, tracker.experiment_id(experiment_name("t"))


def test_a_scored_file_is_found_again_by_its_sha256_and_the_protocol(tmp_path, store):
    tracker, experiment_id = store
    protocol = BenchProtocol(("Set5", "Set14"), ())
    path = _save_compact(tmp_path / "net.pth", 0)
    job = prepare_checkpoint(parse_entry(str(path)), None)
    assert find_scored(tracker, experiment_id, protocol, job) is None
    run_id = log_bench_run(tracker, experiment_id, "t", protocol, job, _sets(protocol.sets, 30.0))
    assert find_scored(tracker, experiment_id, protocol, job) == run_id
    # the same bytes under another name are the same file
    copy = tmp_path / "copy.pth"
    copy.write_bytes(path.read_bytes())
    assert find_scored(tracker, experiment_id, protocol, prepare_checkpoint(parse_entry(str(copy)), None)) == run_id
    # another protocol (sets, metrics) or the file changed: scored again
    assert find_scored(tracker, experiment_id, BenchProtocol(("Set5",), ()), job) is None
    assert find_scored(tracker, experiment_id, BenchProtocol(("Set5", "Set14"), ("niqe",)), job) is None
    _save_compact(path, 1)
    assert find_scored(tracker, experiment_id, protocol, prepare_checkpoint(parse_entry(str(path)), None)) is None

    run = tracker.run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags[TAG_SHA256] == job.checkpoint.sha256
    assert run.data.params["architecture"] == "SRVGGNetCompact (RealESRGAN Compact)"
    assert run.data.params["scale"] == "3" and int(run.data.params["parameters"]) == job.parameters
    assert run.data.metrics["Set5.psnr_y"] == 30.0 and run.data.metrics["Set14.psnr_y"] == 29.0
    assert run.data.metrics["macs_per_mp"] == job.macs_per_mp > 0
    assert "HR modcropped" in run.data.params["protocol"] and run.data.tags["mlflow.source.git.commit"]
    artifacts = {f.path for f in tracker.client.list_artifacts(run_id)}
    assert {RESULTS_ARTIFACT, PER_IMAGE_TABLE} <= artifacts


def test_a_run_missing_a_figure_is_not_reused(tmp_path, store):
    tracker, experiment_id = store
    protocol = BenchProtocol(("Set5", "Set14"), ())
    job = prepare_checkpoint(parse_entry(str(_save_compact(tmp_path / "net.pth", 0))), None)
    log_bench_run(tracker, experiment_id, "t", protocol, job, _sets(("Set5",), 30.0))  # Set14 never came
    assert find_scored(tracker, experiment_id, protocol, job) is None


def test_the_page_sorts_by_the_first_sets_psnr_below_bicubic(tmp_path, store, data_root):
    tracker, experiment_id = store
    protocol = BenchProtocol(("Set5", "Set14"), ())
    for seed, psnr in ((0, 30.0), (1, 31.5), (2, 29.0)):
        job = prepare_checkpoint(parse_entry(str(_save_compact(tmp_path / f"net{seed}.pth", seed))), None)
        log_bench_run(tracker, experiment_id, "t", protocol, job, _sets(protocol.sets, psnr))
    rows, older = bench_rows(tracker, experiment_id, protocol)
    bicubic = bicubic_scores([3], data_root, protocol.sets)
    page, table = write_bench_page(tmp_path / "out", "t", rows, protocol.sets, bicubic, "srbench bench ...", older)
    assert (page.name, table.name) == ("bench-t.md", "bench-t.csv")
    lines = [line for line in page.read_text().splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| checkpoint | architecture | Set5 PSNR / SSIM | Set14 PSNR / SSIM | params")
    assert [line.split(" | ")[0] for line in lines[1:]] == ["| bicubic", "| net1.pth", "| net0.pth", "| net2.pth"]
    assert lines[1].split(" | ")[2] == "30.40 / 0.8689"  # Set5 x3 bicubic, the README's figure
    assert "31.50 / 0.9000 | 30.50 / 0.9000" in lines[2] and "`srbench eval bicubic`" in lines[1]
    text = page.read_text()
    assert "## x3" in text and "Protocol: HR modcropped" in text and "Reproduce: `srbench bench ...`" in text
    csv_rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert [r["file"] for r in csv_rows] == ["bicubic", "net1.pth", "net0.pth", "net2.pth"]
    assert csv_rows[1]["Set5.psnr"] == "31.5000" and len(csv_rows[1]["sha256"]) == 64 and csv_rows[1]["run_id"]
    assert older == 0 and "left off" not in text


def test_a_rewritten_file_shows_its_newest_version_alone_and_its_older_ones_stay_in_mlflow(tmp_path, store):
    tracker, experiment_id = store
    protocol = BenchProtocol(("Set5",), ())
    path, jobs = tmp_path / "net.pth", []
    for seed, psnr in ((0, 30.0), (1, 31.0)):  # one path, rewritten with other weights and scored again
        jobs.append(prepare_checkpoint(parse_entry(str(_save_compact(path, seed))), None))
        log_bench_run(tracker, experiment_id, "t", protocol, jobs[-1], _sets(protocol.sets, psnr))
    other = prepare_checkpoint(parse_entry(str(_save_compact(tmp_path / "other.pth", 2))), None)
    log_bench_run(tracker, experiment_id, "t", protocol, other, _sets(protocol.sets, 29.0))

    rows, older = bench_rows(tracker, experiment_id, protocol)
    assert sorted((r["file"], r["Set5.psnr_y"]) for r in rows) == [("net.pth", 31.0), ("other.pth", 29.0)]
    assert older == 1 and len(tracker.runs([experiment_id])) == 3  # left off the page, not out of MLflow
    page, table = write_bench_page(tmp_path / "out", "t", rows, protocol.sets, {}, "srbench bench ...", older)
    text = page.read_text()
    assert text.count("| net.pth |") == 1 and table.read_text().count("net.pth") == 2  # its file and path cells
    assert "1 run(s) of files since rewritten are left off" in text and "experiment `bench-t`" in text
    # rewritten back to the first weights: the bench finds that run again (reused), and the page shows it
    rows, older = bench_rows(tracker, experiment_id, protocol, {protocol.key(jobs[0])})
    assert [r["Set5.psnr_y"] for r in rows if r["file"] == "net.pth"] == [30.0] and older == 1


def test_a_bench_of_files_already_scored_reuses_their_runs_and_writes_the_page(
    tmp_path, store, data_root, monkeypatch, capsys
):
    """No Ray: every file is found in the store, so nothing is scored (a task would fail the test)."""
    tracker, experiment_id = store
    monkeypatch.setattr("srbench.bench.score.score_on_ray", lambda *a, **k: pytest.fail("nothing is to be scored"))
    protocol = BenchProtocol(("Set5",), ())
    files = [_save_compact(tmp_path / f"net{seed}.pth", seed) for seed in (0, 1)]
    for i, path in enumerate(files):
        job = prepare_checkpoint(parse_entry(str(path)), None)
        log_bench_run(tracker, experiment_id, "t", protocol, job, _sets(protocol.sets, 30.0 + i))
    out = tmp_path / "pages"
    code = main(
        ["bench", *map(str, files), "--name", "t", "--sets", "Set5", "--tracking-uri", tracker.uri, "--out", str(out)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.count("reused ") == 2 and "scored " not in captured.out
    page = (out / "bench-t.md").read_text()
    assert page.index("| net1.pth |") < page.index("| net0.pth |") and "| bicubic |" in page
    assert "[bench-t](bench-t.md)" in (out / "README.md").read_text()


RANDOM_LPIPS = "LPIPS v0.1 AlexNet, trunk random (not ImageNet: not comparable)"


def test_a_file_py_edited_in_place_is_not_the_code_it_was(tmp_path, monkeypatch):
    """A ``file.py:Callable`` network's and a ``file.py:NAME`` metric's contents are part of what a run scored: the
    same path with other code is scored again, never reused."""
    (tmp_path / "lab").mkdir()
    nets, metrics = tmp_path / "lab" / "nets.py", tmp_path / "lab" / "metrics.py"
    nets.write_text(TINY_SR)
    metrics.write_text(GREY_METRIC)
    built: dict = {}
    exec(TINY_SR, built)
    torch.save(built["TinySR"](scale=3).state_dict(), tmp_path / "tiny.pth")
    monkeypatch.chdir(tmp_path)
    job = prepare_checkpoint(parse_entry("lab/nets.py:TinySR=tiny.pth"), [3])
    references = absolute_references(["lab/metrics.py:GREY"])
    protocol = BenchProtocol(("Set5",), ("shipped_grey",), (), code_identity(references))
    key, digest = protocol.key(job), protocol.digest
    assert dict(protocol.code) == {str(metrics): file_sha256(metrics)}
    nets.write_text(TINY_SR + "\n# tuned\n")
    metrics.write_text(GREY_METRIC.replace("7.0", "8.0"))
    edited = BenchProtocol(("Set5",), ("shipped_grey",), (), code_identity(references))
    assert edited.digest != digest and protocol.key(job) != key


def test_the_metric_weights_are_part_of_the_protocol_by_their_contents(tmp_path):
    (tmp_path / "a").mkdir()
    trunk, copy, other = tmp_path / "alexnet.pth", tmp_path / "a" / "copy.pth", tmp_path / "other.pth"
    for path, text in ((trunk, "weights"), (copy, "weights"), (other, "others")):
        path.write_text(text)
    identity = weights_identity({"lpips_weights": str(trunk), "dists_weights": f"random,{other}"})
    assert dict(identity) == {
        "lpips_weights": f"sha256:{file_sha256(trunk)}",
        "dists_weights": f"random,sha256:{file_sha256(other)}",
    }
    assert weights_identity({"lpips_weights": str(copy)}) == identity[1:]  # the contents count, not the path
    assert weights_identity({"lpips_weights": "random"}) == (("lpips_weights", "random"),)
    # the default weights (--metrics lpips alone) and none: the protocol as before bench took weights options
    default = BenchProtocol(("Set5",), ("lpips",))
    for settings in ({"lpips_weights": "imagenet"}, {"dists_weights": "none"}):
        assert BenchProtocol(("Set5",), ("lpips",), weights_identity(settings)).digest == default.digest
    digests = {
        BenchProtocol(("Set5",), ("lpips",), weights_identity({"lpips_weights": s})).digest
        for s in ("random", str(trunk), str(other))
    }
    assert len(digests | {default.digest}) == 4


def test_runs_scored_with_other_metric_weights_are_not_reused_and_the_page_names_the_weights(
    tmp_path, store, data_root, monkeypatch
):
    """No Ray: scoring is recorded, not done; a run under the random trunk is in the store."""
    tracker, experiment_id = store
    asked: list = []
    monkeypatch.setattr(
        "srbench.bench.score.score_on_ray", lambda jobs, sets, metrics, settings, *_: asked.append(settings) or iter(())
    )
    monkeypatch.chdir(tmp_path)
    path = _save_compact(tmp_path / "net.pth", 0)
    random = BenchProtocol(("Set5",), ("lpips",), weights_identity({"lpips_weights": "random"}))
    job = prepare_checkpoint(parse_entry(str(path)), None)
    log_bench_run(tracker, experiment_id, "t", random, job, _sets(random.sets, 30.0, lpips=RANDOM_LPIPS))
    argv = ["bench", "net.pth", "--name", "t", "--sets", "Set5", "--tracking-uri", tracker.uri, "--out", "pages"]

    assert main([*argv, "--lpips-weights", "random"]) == 0 and asked == []  # the same weights: reused
    page = (tmp_path / "pages" / "bench-t.md").read_text()
    assert f"Metric weights: {RANDOM_LPIPS}." in page and "| LPIPS ↓ Set5 (not comparable) |" in page
    assert "--lpips-weights random`" in page  # in the command that scores the page again
    # ImageNet's weights (the default), or a file's: scored again, the file by the absolute path it is shipped by
    assert main([*argv, "--metrics", "lpips"]) == 0 and asked == [{}]
    (tmp_path / "alexnet.pth").write_text("weights")
    assert main([*argv, "--lpips-weights", "alexnet.pth"]) == 0
    assert asked[-1] == {"lpips_weights": str(tmp_path / "alexnet.pth")}


def test_a_task_scores_with_the_weights_files_the_driver_named_and_says_which(tmp_path, data_root, set5):
    """DISTS on the random trunk with alpha/beta from a file the task's node has not got (a cheap stand-in for a
    local VGG16 file: both are files a weights option names)."""
    crops = tmp_path / "crops"
    crops.mkdir()
    for name, hr in set5[:2]:
        save_png(hr[:, :96, :96].contiguous(), crops / name)
    small = f"folder:{crops}"
    (tmp_path / "driver").mkdir()
    alpha_beta = tmp_path / "driver" / "ab.pt"
    torch.manual_seed(0)
    torch.save({"alpha": torch.rand(1, 1475, 1, 1), "beta": torch.rand(1, 1475, 1, 1)}, alpha_beta)
    settings = {"dists_weights": absolute_setting("--dists-weights", f"random,{alpha_beta}")}
    checkpoint = parse_entry(str(_save_compact(tmp_path / "net.pth", 0)))
    shipped = shipment([], [], settings)
    assert set(shipped.weights) == {str(alpha_beta)}
    expected = score_checkpoint_on_set(checkpoint, small, 3, [], data_root, settings=settings)
    (tmp_path / "driver").rename(tmp_path / "elsewhere")
    result = score_shipped(checkpoint, (tmp_path / "net.pth").read_bytes(), shipped, small, 3, data_root)
    assert result.score.figures == expected.score.figures and "dists" in result.score.figures
    label = "DISTS VGG16, trunk random (not ImageNet: not comparable), alpha/beta file ab.pt (not dists-pytorch 0.1's"
    assert result.weights == expected.weights == {"dists": f"{label} weights.pt: not comparable)"}


def _refused(argv: list[str], capsys, message: str) -> None:
    code = main(["bench", *argv, "--sets", "Set5"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "--weights" not in err, err  # bench has no such flag: errors name the entry as typed


def test_a_files_errors_name_it_as_the_bench_command_line_typed_it(tmp_path, monkeypatch, capsys):
    """Detection's and --model's errors under bench: the CHECKPOINT entry, never eval's --weights / --model."""
    monkeypatch.chdir(tmp_path)
    torch.save({"encoder.weight": torch.zeros(4, 3, 3, 3)}, tmp_path / "odd.pth")
    _refused(
        ["odd.pth", "--name", "t"],
        capsys,
        "spandrel could not detect the architecture of checkpoint odd.pth; name the network: MODEL=odd.pth (MODEL: ",
    )
    torch.save(Compact(num_feat=8, num_conv=2, upscale=1).state_dict(), tmp_path / "x1.pth")
    _refused(["x1.pth", "--name", "t"], capsys, "checkpoint x1.pth holds a SRVGGNetCompact (RealESRGAN Compact) Resto")
    _save_compact(tmp_path / "x3.pth", 0)
    _refused(["srcnn=x3.pth", "--name", "t"], capsys, "--scales: give the scale MODEL srcnn works at")
    _refused(
        ["srcnn=x3.pth", "--name", "t", "--scales", "3"], capsys, "checkpoint srcnn=x3.pth does not fit MODEL srcnn:"
    )


def test_bad_input_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    good = str(_save_compact(tmp_path / "x3.pth", 0))
    _refused(["missing.pth", "--name", "t"], capsys, "srbench bench: error: checkpoint missing.pth does not exist")
    torch.save({"encoder.weight": torch.zeros(4, 3, 3, 3)}, tmp_path / "odd.pth")
    _refused(["odd.pth", "--name", "t"], capsys, "spandrel could not detect the architecture of checkpoint odd.pth")
    torch.save(Compact(num_feat=8, num_conv=2, upscale=3), tmp_path / "whole.pth")
    _refused(["whole.pth", "--name", "t"], capsys, "checkpoint whole.pth holds pickled objects besides tensors")
    _refused(
        [good, "--name", "t", "--scales", "2,4"],
        capsys,
        f"checkpoint {good} holds a x3 network (SRVGGNetCompact (RealESRGAN Compact)), but --scales asks for 2,4",
    )
    for name in ("../up", "a b", "x/y", "", ".hidden"):
        _refused([good, "--name", name], capsys, "--name")
    _refused([good, "--name", "t", "--metrics", "nosuch"], capsys, "--metrics: unknown metric 'nosuch'")
    _refused(["=x3.pth", "--name", "t"], capsys, "checkpoint '=x3.pth': give FILE or MODEL=FILE")
    _refused([good, "--name", "t", "--max-concurrent", "0"], capsys, "--max-concurrent 0: give at least 1")
    _refused(
        [good, "--name", "t", "--lpips-weights", "alexnet.pth"],
        capsys,
        "--lpips-weights alexnet.pth: 'alexnet.pth' is neither imagenet nor random nor an existing file",
    )
    assert not (tmp_path / "mlflow.db").exists()  # every refusal before the store is opened


@pytest.fixture
def local_ray():
    import ray

    yield
    ray.shutdown()


def test_bench_ray_three_files_two_at_a_time_then_reused_then_a_changed_one_rescored(
    tmp_path, data_root, local_ray, capsys
):
    """The whole command on a local Ray of its own: three files x Set5, Set14, two tasks at a time; three runs and one
    page; the same bench again reuses all three; a file rewritten with other weights is scored again, alone."""
    files = [
        _save_compact(tmp_path / "a.pth", 0),
        _save_compact(tmp_path / "b.pth", 1),
        _save_rcan(tmp_path / "c.pth", 2),
    ]
    uri, out = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "pages"
    argv = ["bench", *map(str, files), "--name", "trio", "--sets", "Set5,Set14", "--max-concurrent", "2"]
    argv += ["--tracking-uri", uri, "--out", str(out)]

    def bench() -> str:
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 0, captured.err
        return captured.out

    first = bench()
    assert first.count("scored ") == 3 and "reused " not in first
    tracker = Tracker(uri)
    experiment = tracker.experiment_by_name("bench-trio")
    runs = tracker.runs([experiment.experiment_id])
    assert len(runs) == 3 and {r.info.status for r in runs} == {"FINISHED"}
    assert all({"Set5.psnr_y", "Set14.psnr_y", "Set5.ssim_y", "Set14.ssim_y"} <= r.data.metrics.keys() for r in runs)
    # the Ray task's figures are the plain function's
    by_file = {Path(r.data.params["file"]).name: r for r in runs}
    direct = score_checkpoint_on_set(parse_entry(str(files[0])), "Set14", 3, [], data_root)
    assert by_file["a.pth"].data.metrics["Set14.psnr_y"] == direct.score.psnr_y
    page = (out / "bench-trio.md").read_text()
    assert all(f"| {f.name} |" in page for f in files) and "| bicubic |" in page

    again = bench()
    assert again.count("reused ") == 3 and "scored " not in again
    assert len(tracker.runs([experiment.experiment_id])) == 3

    _save_compact(files[1], 7)
    changed = bench()
    [rescored] = [line for line in changed.splitlines() if line.startswith("scored ")]
    assert changed.count("reused ") == 2 and "b.pth (sha256" in rescored
    assert len(tracker.runs([experiment.experiment_id])) == 4  # the old weights' run stays in MLflow
    page = (out / "bench-trio.md").read_text()
    assert page.count("| b.pth |") == 1 and "1 run(s) of files since rewritten are left off" in page
