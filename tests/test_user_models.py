"""A researcher's own network through srbench: registered in a study file or named by import path, checked before
Ray starts, trained by a real sweep from another folder, on the leaderboard, and scored again by ``eval --model``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from srbench.cli import main
from srbench.errors import UserError
from srbench.models.registry import MODELS, build_model, entry_for, register
from srbench.tracking.names import TAG_KIND, final_metric
from srbench.train.config import GENERIC_BUDGETS, make_config

from user_networks import TINY_SR

REPO = Path(__file__).resolve().parents[1]
TINY = (
    TINY_SR
    + """
from srbench.experiment import Experiment
from srbench.models.registry import register

register("tinysr", "two convolutions and a pixel shuffle (RGB)", "srbench's tests")(TinySR)
"""
)


def _study(folder: Path, body: str = "", experiment: str = "", name: str = "tiny_study.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / name
    file.write_text(
        TINY
        + body
        + (
            experiment
            # whole sets, as `srbench eval --sets Set5` scores them; one set is enough to compare the two
            or "EXPERIMENT = Experiment(name='tiny_study', model={'name': 'tinysr'}, scale=3, "
            "train={'val_images': None, 'eval_sets': ['Set5']})\n"
        )
    )
    return file


@pytest.fixture
def unregister():
    """Registrations a test makes are gone after it (the registry is process-wide)."""
    before = dict(MODELS)
    yield
    MODELS.clear()
    MODELS.update(before)


class Doubler(nn.Module):
    """A plain module: RGB, LR in, x2 out (nothing declared)."""

    def __init__(self, scale: int = 2) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=scale)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.up(x))


def test_a_plain_module_registered_without_a_recipe_trains_on_the_generic_one(unregister):
    register("doubler")(Doubler)
    config = make_config({"name": "doubler"}, 2, "quick")
    assert (config.iterations, config.batch_size, config.patch_size) == tuple(
        GENERIC_BUDGETS["quick"][k] for k in ("iterations", "batch_size", "patch_size")
    )
    assert make_config({"name": "doubler"}, 2, "quick", lr=5e-4, iterations=10).lr == 5e-4
    with pytest.raises(UserError, match="doubler has no 'paper' recipe: give its training fields in the study"):
        make_config({"name": "doubler"}, 2, "paper")
    assert make_config({"name": "doubler"}, 2, "paper", iterations=7).iterations == 7


def test_the_zoo_trains_through_its_registry_entries():
    assert entry_for({"name": "srresnet"}).discriminator == "srgan_discriminator"
    assert (
        make_config({"name": "srresnet"}, 4, "quick", adversarial_weight=1e-3).pretrain_iterations
        == entry_for({"name": "srresnet"}).adversarial_budgets["quick"]["pretrain_iterations"]
    )
    assert make_config({"name": "srcnn"}, 3, "paper").optimizer == "sgd"
    with pytest.raises(UserError, match="'srgan_discriminator' is a discriminator; a trial trains a generator"):
        make_config({"name": "srgan_discriminator"}, 4, "smoke")


def test_registering_a_taken_name_is_refused_unless_replaced_and_reading_a_study_twice_is_not_a_clash(unregister):
    with pytest.raises(UserError, match=r"register\('srcnn'\): the name is taken by .*srcnn.py:srcnn"):
        register("srcnn")(Doubler)
    register("srcnn", replace=True)(Doubler)
    assert MODELS["srcnn"].builder is Doubler
    register("doubler")(Doubler)
    register("doubler")(Doubler)  # the same code again (a study file read on the driver, then in a trial process)


class FixedDoubler(Doubler):
    """Always x2, whatever the study's scale."""

    def __init__(self) -> None:
        super().__init__(2)


@pytest.mark.parametrize(
    "declared, message",
    [
        ({"in_channels": 2}, "in_channels = 2; srbench scores Y (1) or RGB (3) networks"),
        ({"input_kind": "hr"}, "input_kind = 'hr'; valid: lr, bicubic"),
        ({"border": -1}, "border = -1; give the pixels lost per side"),
        ({}, "a probe input (1, 3, 8, 8) gives (1, 3, 16, 16), expected (1, 3, 24, 24) (x3"),
    ],
)
def test_a_network_that_does_not_keep_its_declarations_is_one_line_before_training(unregister, declared, message):
    register("doubler")(type("Declared", (FixedDoubler,), declared))
    with pytest.raises(UserError) as error:
        make_config({"name": "doubler"}, 3, "smoke")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_builders_own_error_is_not_dressed_up_as_the_users(unregister):
    @register("buggy")
    def buggy(scale: int = 3, width: int = 8) -> nn.Module:
        return nn.Conv2d(3, "eight", 3)  # the builder's bug: no given field is to blame

    @register("picky")
    def picky(scale: int = 3, width: int = 8) -> nn.Module:
        raise ValueError(f"width must be a multiple of 16, got {width}")

    with pytest.raises(TypeError):
        build_model({"name": "buggy"})
    with pytest.raises(UserError, match="model picky: width must be a multiple of 16, got 8"):
        build_model({"name": "picky", "width": 8})


def test_gan_and_perceptual_fields_need_what_the_network_declares(unregister):
    register("doubler")(Doubler)
    with pytest.raises(UserError, match="model doubler has no discriminator to train against"):
        make_config({"name": "doubler"}, 2, "smoke", adversarial_weight=1e-3)
    with pytest.raises(UserError, match="VGG content losses need an RGB network; srcnn has 1 channel"):
        make_config({"name": "srcnn"}, 3, "smoke", content_loss="vgg22")


def test_a_builder_import_path_builds_and_its_mistakes_are_one_line(tmp_path, monkeypatch):
    (tmp_path / "mylab").mkdir()
    (tmp_path / "mylab" / "__init__.py").write_text("")
    (tmp_path / "mylab" / "nets.py").write_text(TINY_SR)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = make_config({"builder": "mylab.nets:TinySR", "channels": 4}, 3, "smoke")
    assert config.family == "mylab.nets:TinySR" and config.model["channels"] == 4
    (tmp_path / "broken.py").write_text("import torch\nclass Net(torch.nn.Module:\n    pass\n")
    (tmp_path / "needs.py").write_text("import torch\nimport nosuchpackage\n")
    for path, message in [
        ("mylab.nets", "is not 'package.module:Callable'"),
        ("mylab.nope:TinySR", "cannot import mylab.nope"),
        ("mylab.nets:Nope", "mylab.nets has no 'Nope'"),
        # a file that fails as it is read: where in it, and why, as a study file's failure is told
        (f"{tmp_path / 'broken.py'}:Net", re.escape(f"{tmp_path / 'broken.py'}:2: syntax error:")),
        (f"{tmp_path / 'needs.py'}:Net", re.escape(f"{tmp_path / 'needs.py'}:2: ModuleNotFoundError: No module")),
    ]:
        with pytest.raises(UserError, match=message):
            make_config({"builder": path}, 3, "smoke")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "srcnn", "--scales", "3"], "--model and --weights go together"),
        (["--weights", "missing.pth", "--scales", "3"], "--weights missing.pth does not exist"),  # detection's
        (["--model", "srcnn", "--weights", "missing.pth", "--scales", "3"], "--weights missing.pth does not exist"),
        (["--model", "srcnn", "--weights", "list.pth", "--scales", "3"], "--weights list.pth holds no state dict"),
        (["--model", "srcnn", "--weights", "w.pth", "--scales", "3"], "--weights w.pth does not fit --model srcnn"),
        (["--model", "srcnn", "--weights", "w.pth", "--scales", "2,3"], "--model scores one scale at a time"),
        (["--model", "srcnn", "--weights", "w.pth"], "--scales: give the scale --model srcnn works at"),
        (
            ["--model", "srcnn", "--weights", "w.pth", "--scales", "3", "--model-config", "[1]"],
            "--model-config must be a JSON object",
        ),
        # a field of the wrong type or a non-finite number, checked against the builder's annotations
        (
            ["--model", "srcnn", "--weights", "w.pth", "--scales", "3", "--model-config", '{"channels": "x"}'],
            "model srcnn: field 'channels' = 'x': must be a list of integers",
        ),
        (
            ["--model", "srcnn", "--weights", "w.pth", "--scales", "3", "--model-config", '{"init_std": NaN}'],
            "model srcnn: field 'init_std' = nan: must be a finite number",
        ),
        (
            ["--model", "srcnn", "--weights", "w.pth", "--scales", "3", "--model-config", '{"init_std": -1}'],
            "field 'init_std': the weights' standard deviation must be >= 0",
        ),
        (
            ["--model", "srcnn", "--weights", "w.pth", "--scales", "3", "--model-config", '{"scale": 4}'],
            "--model-config: give the scale with --scales, not as a field",
        ),
    ],
)
def test_eval_model_mistakes_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys, data_root, args, message):
    monkeypatch.chdir(tmp_path)
    torch.save(build_model({"name": "srresnet", "blocks": 1}).state_dict(), tmp_path / "w.pth")  # not an SRCNN's
    torch.save([1, 2], tmp_path / "list.pth")
    code = main(["eval", "--sets", "Set5", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def _cli(args: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "srbench", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    "experiment, message",
    [
        (
            "EXPERIMENT = Experiment(name='t', model={'name': 'tinysr'}, scale=3,\n"
            "                        train={'adversarial_weight': 1e-3})\n",
            "model tinysr has no discriminator to train against",
        ),
        (
            "EXPERIMENT = Experiment(name='t', model={'builder': 'nowhere.nets:Net'}, scale=3)\n",
            "cannot import nowhere.nets",
        ),
        (
            "register('same')(type('Same', (nn.Module,), {'forward': lambda self, x: x}))\n"
            "EXPERIMENT = Experiment(name='t', model={'name': 'same'}, scale=3)\n",
            "model same: a probe input (1, 3, 8, 8) gives (1, 3, 8, 8), expected (1, 3, 24, 24)",
        ),
        (
            "register('srcnn')(TinySR)\nEXPERIMENT = Experiment(name='t', model={'name': 'tinysr'}, scale=3)\n",
            "register('srcnn'): the name is taken by",
        ),
    ],
)
def test_a_study_with_a_broken_own_network_is_one_line_and_exit_2(
    tmp_path, monkeypatch, capsys, unregister, experiment, message
):
    study = _study(tmp_path, experiment=experiment)
    monkeypatch.chdir(tmp_path)
    code = main(["sweep", str(study), "--budget", "smoke", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_study_of_its_own_network_sweeps_from_any_folder_and_eval_rescores_its_checkpoint(tmp_path, data_root):
    """The acceptance path: a real sweep (its own local Ray, the study's folder shipped as Ray's working_dir), run
    from another folder; the trial's final figures are on its MLflow run and the page, and ``eval --model
    file.py:Callable --weights`` on its checkpoint gives the same figures."""
    study = _study(tmp_path / "lab")
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    swept = _cli(["sweep", str(study), "--budget", "smoke"], workdir)
    assert swept.returncode == 0, swept.stderr[-3000:]
    assert "1 of 1 trials finished" in swept.stdout

    import mlflow

    client = mlflow.tracking.MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny_study")
    [trial] = client.search_runs([experiment.experiment_id], f"tags.`{TAG_KIND}` = 'trial'")
    assert trial.info.status == "FINISHED"
    figures = {("Set5", k): trial.data.metrics[final_metric("Set5", k)] for k in ("psnr_y", "ssim_y")}
    page = (workdir / "leaderboards-smoke" / "tiny_study.md").read_text().replace("**", "")  # best values in bold
    assert f"| default | {figures[('Set5', 'psnr_y')]:.2f} / {figures[('Set5', 'ssim_y')]:.4f} |" in page
    assert "paper (Δ)" not in page and f"python -m srbench sweep {study} --budget smoke" in page

    [last] = workdir.glob("ray_results/**/checkpoint_*/last.pt")  # the one trial's one retained checkpoint
    scored = _cli(["eval", "--model", f"{study}:TinySR", "--weights", str(last), "--sets", "Set5", "--json"], workdir)
    assert scored.returncode == 0, scored.stderr
    rows = json.loads(scored.stdout)["results"]
    assert {(r["set"], k): r[k] for r in rows for k in ("psnr_y", "ssim_y")} == pytest.approx(figures, abs=1e-9)
