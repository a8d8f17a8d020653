"""The training engine: every family at the smoke budget, exact resume, atomic checkpoints,
DDP on CPU (gloo, 2 processes) with training and validation split across ranks, and the CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from srbench.cli import main
from srbench.crops import crop, crop_box, crop_file
from srbench.data import get_spec, load_set
from srbench.data.images import load_rgb
from srbench.degrade import bicubic_lr, modcrop
from srbench.evaluate import evaluate_model
from srbench.models import build_model
from srbench.tracking.model_registry import load_logged_model
from srbench.tracking.names import TAG_KIND, TAG_RUN_DIR, final_metric, val_metric
from srbench.tracking.store import Tracker
from srbench.train.checkpoint import load_checkpoint, save_checkpoint
from srbench.train.config import make_config
from srbench.train.inference import SuperResolver
from srbench.train.loop import Trainer
from srbench.train.precision import fp32_scoring, resolve_precision


def train(tmp_path: Path, data_root: Path, model: dict, scale: int, name: str = "run", **overrides):
    config = make_config(model, scale, "smoke", **overrides)
    trainer = Trainer(config, tmp_path / name, data_root, show_progress=False)
    return trainer, trainer.fit()


def history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    "model,scale,overrides",
    [
        ({"name": "srcnn"}, 3, {}),
        ({"name": "srcnn", "variant": "9-5-5", "padding": "same"}, 2, {}),
        ({"name": "srdensenet", "variant": "HL"}, 4, {}),
        ({"name": "srresnet"}, 4, {"content_loss": "vgg22", "vgg_weights": "random"}),
        (
            {"name": "srresnet"},
            4,
            {
                "content_loss": "vgg54",
                "vgg_weights": "random",
                "adversarial_weight": 1e-3,
                "pretrain_iterations": 2,
                "lpips_weights": "random",
            },
        ),
        ({"name": "sftgan"}, 4, {"vgg_weights": "random"}),
        ({"name": "sftgan", "variant": "nosft"}, 4, {"vgg_weights": "random"}),
    ],
)
def test_every_family_trains_at_the_smoke_budget(tmp_path, data_root, model, scale, overrides):
    trainer, results = train(tmp_path, data_root, model, scale, **overrides)
    run = tmp_path / "run"
    assert results["iterations"] == trainer.config.total_iterations
    assert json.loads((run / "results.json").read_text())["sets"][0]["set"] == "Set5"
    assert results["eval_images"].endswith("(subset)") and results["sets"][0]["images"] == trainer.config.val_images
    assert 0 < results["sets"][0]["psnr_y"] < 100
    assert (run / "checkpoints" / "last.pt").exists() and (run / "checkpoints" / "best.pt").exists()
    best = load_checkpoint(run / "checkpoints" / "best.pt")  # weights for scoring, no optimiser state
    assert "optimizers" not in best and best["model"].keys() == trainer.model.state_dict().keys()
    rows = history(run)
    assert any("val/Set5/psnr_y" in r for r in rows) and any("loss" in r for r in rows)
    if trainer.config.is_gan:  # the adversarial phase really ran
        adversarial = [r for r in rows if r.get("phase") == "train"]
        assert adversarial and all("d_loss" in r for r in adversarial)
    if overrides.get("lpips_weights") == "random":  # LPIPS with the final figures, labelled
        assert "not comparable" in results["metric_weights"]["lpips"]
        assert all(0 < s["lpips"] < 1 for s in results["sets"])
    else:
        assert "lpips" not in results["metric_weights"] and all("lpips" not in s for s in results["sets"])
    if overrides.get("vgg_weights") == "random":
        assert "not comparable" in results["vgg_weights"]
    if model["name"] == "sftgan" and model.get("variant") != "nosft":
        assert "not semantic" in results["condition_source"]


def test_each_sets_crop_is_the_networks_sr_of_its_first_image(tmp_path, data_root):
    """The crops a trial saves for the pages come from the final scoring's SR images (not made a second time): the
    same pixels as the network's own super-resolution of each set's first image."""
    trainer, _ = train(tmp_path, data_root, {"name": "srcnn"}, 3)
    for name in trainer.config.eval_sets:
        [(image, hr)] = load_set(get_spec(name), data_root, limit=1)
        with fp32_scoring(trainer.model, trainer.memory_format) as model:
            sr = SuperResolver(model)(bicubic_lr(hr, 3), 3, image)
        saved = load_rgb(tmp_path / "run" / "crops" / crop_file(name, image))
        assert torch.equal(saved, crop(sr, crop_box(modcrop(hr, 3))))


def test_srcnn_learns_at_a_short_budget(tmp_path, data_root):
    _, results = train(tmp_path, data_root, {"name": "srcnn"}, 3, iterations=150, batch_size=32, val_every=150)
    rows = [r["loss"] for r in history(tmp_path / "run") if "loss" in r]
    assert rows[-1] < rows[0] * 0.75  # the recipe's last layer learns at a tenth of the rate: a slower start


def _state(trainer: Trainer) -> dict[str, torch.Tensor]:
    state = {f"g.{k}": v for k, v in trainer.model.state_dict().items()}
    if trainer.discriminator is not None:
        state.update({f"d.{k}": v for k, v in trainer.discriminator.state_dict().items()})
    return state


@pytest.mark.parametrize(
    "model,overrides,stop",
    [
        ({"name": "srcnn"}, {"iterations": 12, "precision": "fp32"}, 5),
        (
            {"name": "srresnet"},
            {
                "adversarial_weight": 1e-3,
                "pretrain_iterations": 2,
                "iterations": 3,
                "val_every": 2,
                "precision": "fp32",
                "eval_sets": ["Set5"],  # what is resumed is training: one set scores it (SRResNet's are slow)
            },
            3,
        ),
    ],
)
def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(tmp_path, data_root, model, overrides, stop):
    scale = 3 if model["name"] == "srcnn" else 4
    straight, _ = train(tmp_path, data_root, model, scale, name="straight", **overrides)

    config = make_config(model, scale, "smoke", **overrides)
    first = Trainer(config, tmp_path / "interrupted", data_root, show_progress=False)
    assert first.fit(stop_at=stop) is None and first.iteration == stop
    resumed = Trainer(config, tmp_path / "interrupted", data_root, resume=True, show_progress=False)
    assert resumed.iteration == stop
    resumed.fit()

    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [r["iteration"] for r in history(tmp_path / "straight")] == [
        r["iteration"] for r in history(tmp_path / "interrupted")
    ]


def test_a_longer_or_shorter_run_validates_and_logs_as_often_as_its_preset():
    preset = make_config({"name": "srcnn"}, 3, "smoke")  # 12 iterations, validation every 6, log every 3
    longer = make_config({"name": "srcnn"}, 3, "smoke", iterations=150)
    assert (longer.val_every, longer.log_every) == (75, 38) and (preset.val_every, preset.log_every) == (6, 3)
    assert make_config({"name": "srcnn"}, 3, "smoke", iterations=150, val_every=10).val_every == 10


def test_bf16_trains_under_autocast_and_scores_in_fp32(tmp_path, data_root):
    trainer, results = train(tmp_path, data_root, {"name": "srcnn"}, 3, precision="bf16", iterations=6)
    assert trainer.precision == results["precision"] == "bf16"
    assert json.loads((tmp_path / "run" / "results.json").read_text())["precision"] == "bf16"
    weight = trainer.model.body[0].weight
    assert weight.dtype == torch.float32 and weight.is_contiguous(memory_format=torch.channels_last)
    # The trial's scores are those of a plain fp32 model with the same weights (what `srbench eval` runs).
    plain = build_model(trainer.config.model)
    plain.load_state_dict(trainer.model.state_dict())
    fresh = evaluate_model(SuperResolver(plain), [get_spec("Set5")], [3], data_root, limit=trainer.config.val_images)
    assert fresh[0].psnr_y == results["sets"][0]["psnr_y"]
    # A resumed run keeps the precision it started with, whatever its configuration now says.
    first = Trainer(
        make_config({"name": "srcnn"}, 3, "smoke", precision="bf16"), tmp_path / "r", data_root, show_progress=False
    )
    first.fit(stop_at=3)
    again = Trainer(
        make_config({"name": "srcnn"}, 3, "smoke", precision="fp32"),
        tmp_path / "r",
        data_root,
        resume=True,
        show_progress=False,
    )
    assert again.precision == "bf16"


def test_the_discriminator_gets_no_gradient_from_the_generators_update(tmp_path, data_root):
    config = make_config({"name": "srresnet"}, 4, "smoke", adversarial_weight=1e-3, pretrain_iterations=0)
    trainer = Trainer(config, tmp_path / "run", data_root, show_progress=False)
    at_step = {}
    trainer.optimizers["discriminator"].register_step_pre_hook(
        lambda *_: at_step.update({n: p.grad.clone() for n, p in trainer.discriminator.named_parameters()})
    )
    trainer._step(trainer.sampler.sample(trainer.sampler_rng, config.batch_size))
    for name, p in trainer.discriminator.named_parameters():
        assert p.requires_grad and torch.equal(p.grad, at_step[name]), name
    assert all(p.grad is not None for p in trainer.model.parameters())


_WRITER = """
import sys, torch
from pathlib import Path
from srbench.train.checkpoint import save_checkpoint
path = Path(sys.argv[1])
big = torch.zeros(64 * 1024 * 1024 // 4)  # 64 MB: the write takes a while
print("writing", flush=True)
while True:
    save_checkpoint({"iteration": 2, "weights": big}, path)
"""


def test_kill_9_during_a_checkpoint_write_leaves_the_previous_checkpoint_usable(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"iteration": 1, "weights": torch.ones(3)}, path)
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".last.pt.*.tmp")):  # a write is in progress
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    state = load_checkpoint(path)  # either the old one or a complete new one, never a torn file
    assert state["iteration"] in (1, 2)
    if state["iteration"] == 1:
        assert torch.equal(state["weights"], torch.ones(3))


def test_loading_refuses_non_checkpoints(tmp_path):
    from srbench.errors import UserError

    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="junk.pt is not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.ones(1)}, tmp_path / "plain.pt")
    with pytest.raises(UserError, match="not an srbench checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")


def _ddp_worker(
    rank: int,
    world: int,
    init_file: str,
    run_dir: str,
    data_root: str,
    out: str,
    model: dict | None = None,
    scale: int = 3,
) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        config = make_config(
            model or {"name": "srcnn"},
            scale,
            "smoke",
            iterations=4,
            val_every=2,
            batch_size=8,
            val_images=4,
            eval_sets=["Set5"],  # the split and the scoring are each set's alike: one set shows them
            precision="fp32",
        )
        trainer = Trainer(config, Path(run_dir), Path(data_root), show_progress=False)
        share = trainer.sampler.sample(torch.Generator().manual_seed(0), 8, rank, world).inputs.shape[0]
        results = trainer.fit()
        weights = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
        buffers = {k: v.clone() for k, v in trainer.model.named_buffers()}
        torch.save({"share": share, "weights": weights, "buffers": buffers, "results": results}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_ddp_on_cpu_splits_training_and_validation_across_two_ranks(tmp_path, data_root):
    out = str(tmp_path / "out")
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path / "run"), str(data_root), out), nprocs=2)
    r0, r1 = (torch.load(f"{out}.{r}", weights_only=False) for r in (0, 1))
    assert r0["share"] == r1["share"] == 4  # each rank builds half of the global batch of 8
    assert torch.equal(r0["weights"], r1["weights"])  # gradients were all-reduced
    per_image = r0["results"]["sets"][0]["per_image"]
    assert len(per_image) == 4 and {row["rank"] for row in per_image} == {0, 1}  # both ranks scored images
    assert r0["results"]["sets"] == r1["results"]["sets"]
    assert r0["results"]["hardware"].endswith(", 2 processes on 1 node") and r0["results"]["world_size"] == 2


def test_batchnorm_statistics_are_rank_0s_on_every_rank_when_scoring(tmp_path, data_root):
    """Each rank updates BatchNorm's running statistics from its own share of the batch (gloo has no SyncBatchNorm);
    before scoring, rank 0's are broadcast, so every validation row comes from the model rank 0 checkpoints."""
    out = str(tmp_path / "out")
    mp.spawn(
        _ddp_worker,
        args=(2, str(tmp_path / "init"), str(tmp_path / "run"), str(data_root), out, {"name": "srresnet"}, 4),
        nprocs=2,
    )
    r0, r1 = (torch.load(f"{out}.{r}", weights_only=False) for r in (0, 1))
    assert any("running_mean" in k for k in r0["buffers"])
    assert all(torch.equal(r0["buffers"][k], r1["buffers"][k]) for k in r0["buffers"])
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    model = build_model(checkpoint["config"]["model"])
    model.load_state_dict(checkpoint["model"])
    alone = evaluate_model(SuperResolver(model.eval()), [get_spec("Set5")], [4], data_root, limit=4)
    two_ranks = r0["results"]["sets"][0]["per_image"]
    assert {row["rank"] for row in two_ranks} == {0, 1}
    assert [row["psnr_y"] for row in two_ranks] == pytest.approx(
        [row["psnr_y"] for row in alone[0].per_image], abs=1e-9
    )


def test_train_cli_and_eval_checkpoint(tmp_path, data_root, capsys):
    run = tmp_path / "cli-run"
    code = main(
        [
            "train",
            "--model",
            "srcnn",
            "--scale",
            "3",
            "--budget",
            "smoke",
            "--run-dir",
            str(run),
            "--quiet",
            "--set",
            "iterations=6",
            "--data-root",
            str(data_root),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "srcnn x3 (smoke: 6 iterations" in out and "Set5" in out
    assert f", {resolve_precision('auto', torch.device('cpu'))}; images: first 2 per set (subset))" in out
    code = main(
        [
            "eval",
            "--checkpoint",
            str(run / "checkpoints" / "last.pt"),
            "--sets",
            "Set5",
            "--data-root",
            str(data_root),
            "--json",
        ]
    )
    results = json.loads(capsys.readouterr().out)["results"]
    assert code == 0 and results[0]["scale"] == 3 and results[0]["images"] == 5
    code = main(
        [
            "train",
            "--model",
            "srcnn",
            "--scale",
            "3",
            "--budget",
            "smoke",
            "--run-dir",
            str(run),
            "--quiet",
            "--data-root",
            str(data_root),
        ]
    )
    assert code == 2 and "already holds a run" in capsys.readouterr().err


def test_train_with_a_tracking_uri_records_its_run_as_a_sweep_trial_is(tmp_path, data_root, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the store named as users name it, relative to their folder
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = main(
        [
            "train",
            "--model",
            "srcnn",
            "--scale",
            "3",
            "--budget",
            "smoke",
            "--run-dir",
            str(tmp_path / "run"),
            "--quiet",
            "--set",
            "iterations=6",
            "--set",
            "val_every=3",
            "--data-root",
            str(data_root),
            "--tracking-uri",
            "sqlite:///mlflow.db",
        ]
    )
    assert code == 0 and "MLflow: run " in capsys.readouterr().err
    tracker = Tracker(uri)
    [run] = tracker.client.search_runs(
        [tracker.client.get_experiment_by_name("srbench-train").experiment_id], f"tags.`{TAG_KIND}` = 'train'"
    )
    assert run.info.status == "FINISHED" and run.data.tags[TAG_RUN_DIR] == str((tmp_path / "run").resolve())
    assert run.data.params["model.name"] == "srcnn" and run.data.params["precision_used"] in ("fp32", "bf16")
    assert [m.step for m in tracker.client.get_metric_history(run.info.run_id, val_metric("Set5"))] == [3, 6]
    assert [m.step for m in tracker.client.get_metric_history(run.info.run_id, final_metric("Set5", "psnr_y"))] == [0]
    model, scale, _ = load_logged_model(f"runs:/{run.info.run_id}/model", uri)
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")["model"]  # the logged network is the best
    assert scale == 3 and all(torch.equal(best[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["--model", "edsr", "--scale", "3"], "unknown model 'edsr'"),
        (["--model", "srcnn", "--scale", "3", "--budget", "huge"], "argument --budget: invalid choice: 'huge'"),
        (["--model", "srcnn", "--scale", "3", "--set", "iterationz=5"], "unknown training field 'iterationz'"),
        (["--model", "srcnn", "--scale", "3", "--set", "iterations=-5"], "field 'iterations' = -5"),
        (["--model", "srcnn", "--scale", "3", "--set", 'eval_sets=["Set6"]'], "unknown benchmark set 'Set6'"),
        (["--model", "srcnn", "--scale", "3", "--set", "adversarial_weight=0.001"], "field 'adversarial_weight'"),
        (
            ["--model", "srcnn", "--scale", "3", "--set", "precision=fp16"],
            "field 'precision' = 'fp16': valid: auto, fp32, bf16",
        ),
        (["--model", "srdensenet", "--scale", "3", "--set", "patch_size=32"], "field 'patch_size' = 32"),
        (["--model", "srcnn", "--scale", "3", "--model-config", "{bad"], "--model-config is not valid JSON"),
        (["--model", "sftgan", "--scale", "2"], "field 'scale' = 2 is not supported"),
        (["--model", "srcnn"], "--model and --scale are required"),
        (["--resume", "/no/such/run"], "checkpoint /no/such/run/checkpoints/last.pt does not exist"),
        (
            ["--model", "srcnn", "--scale", "3", "--budget", "smoke", "--tracking-uri", "http://127.0.0.1:9"],
            "MLflow tracking server http://127.0.0.1:9 is unreachable",
        ),
    ],
)
def test_train_user_mistakes_give_one_line_and_exit_2(capsys, argv, fragment):
    try:
        code = main(["train", *argv])
    except SystemExit as exc:  # argparse's own refusals (a --budget it does not offer)
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err


def test_sftgan_trains_and_scores_with_folder_condition_maps(tmp_path, data_root, monkeypatch):
    """The `folder` source (maps precomputed per image, found by its name) in training and scoring; training maps
    are computed once per image (not per step) and cut with the patches."""
    import numpy as np

    from srbench.data import load_set
    from srbench.degrade import bicubic_lr, imresize
    from srbench.models.conditions import ColourTextureClusters, FolderConditions

    maps = tmp_path / "maps"
    maps.mkdir()
    clusters = ColourTextureClusters()
    for set_name, count, kind in (
        ("BSDS200", 4, "train"),
        ("Set5", 1, "benchmark"),
        ("Set14", 1, "benchmark"),
        ("BSD100", 1, "benchmark"),
    ):
        for image_name, hr in load_set(get_spec(set_name, kind), data_root)[:count]:
            bicubic = imresize(bicubic_lr(hr, 4), scale=4)  # what srbench derives the maps from
            np.save(maps / f"{Path(image_name).stem}.npy", clusters(bicubic[None].float() / 255)[0].numpy())
    reads: list[str] = []
    load = FolderConditions.load
    monkeypatch.setattr(FolderConditions, "load", lambda self, name: reads.append(name) or load(self, name))
    trainer, results = train(
        tmp_path,
        data_root,
        {"name": "sftgan", "condition": {"source": "folder", "path": str(maps)}},
        4,
        vgg_weights="random",
    )
    assert results["condition_source"] == f"folder ({maps})" and results["iterations"] == 5
    assert 0 < results["sets"][0]["psnr_y"] < 100
    training_reads = [name for name in reads if name.endswith(".jpg")]  # BSDS200's files
    assert len(training_reads) == 4  # once per training image, for the whole run
    assert trainer.sampler.sample(torch.Generator().manual_seed(0), 2).conditions.shape == (2, 8, 32, 32)
