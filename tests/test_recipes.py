"""The papers' training recipes: one test per deviation fixed against the papers (and the authors' code)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srbench.losses import category_loss, euclidean_loss
from srbench.models import build_model
from srbench.study.load import load_experiment
from srbench.study.plan import check_trials
from srbench.train.config import make_config
from srbench.train.optim import build_optimizer, last_layer, lr_factor, parameter_groups

from conftest import REPO


def test_srgan_pretraining_runs_at_a_constant_rate_and_the_step_schedule_starts_after_it():
    config = make_config({"name": "srresnet"}, 4, "paper", adversarial_weight=1e-3)
    assert (config.pretrain_iterations, config.iterations, config.lr) == (1_000_000, 200_000, 1e-4)
    lr = lambda step: config.lr * lr_factor(config, step)  # noqa: E731
    assert lr(0) == lr(100_000) == lr(500_000) == lr(999_999) == 1e-4  # SRResNet: 1e6 updates at 1e-4
    assert lr(1_000_000) == lr(1_099_999) == 1e-4  # SRGAN: 1e5 updates at 1e-4 ...
    assert lr(1_100_000) == pytest.approx(1e-5) and lr(1_199_999) == pytest.approx(1e-5)  # ... then 1e5 at 1e-5


def test_srcnn_paper_recipe_is_sgd_with_a_slower_last_layer_on_t91():
    config = make_config({"name": "srcnn"}, 3, "paper")
    assert (config.optimizer, config.momentum, config.lr, config.last_layer_lr_scale) == ("sgd", 0.9, 1e-4, 0.1)
    assert (config.train_set, config.batch_size, config.patch_size, config.pixel_loss) == ("T91", 128, 33, "euclidean")
    model = build_model(config.model)
    optimizer = build_optimizer(
        config.optimizer, parameter_groups(model, config.lr, config.last_layer_lr_scale), config.momentum
    )
    assert isinstance(optimizer, torch.optim.SGD)
    first, last = optimizer.param_groups
    assert (first["lr"], last["lr"], first["momentum"]) == (1e-4, pytest.approx(1e-5), 0.9)
    assert last_layer(model) is model.body[-1]  # the 5x5 reconstruction conv, weight and bias
    assert {id(p) for p in last["params"]} == {id(model.body[-1].weight), id(model.body[-1].bias)}
    assert len(first["params"]) == 4  # the other two convolutions, weights and biases
    weights = [m.weight for m in model.body if isinstance(m, nn.Conv2d)]
    assert all(abs(w.std().item() - 1e-3) < 3e-4 for w in weights)  # N(0, 0.001), the paper's initialisation


def test_euclidean_loss_is_caffes_half_sum_of_squares_per_sample():
    sr, hr = torch.rand(4, 1, 21, 21), torch.rand(4, 1, 21, 21)
    assert euclidean_loss(sr, hr).item() == pytest.approx(((sr - hr) ** 2).sum().item() / 2 / 4, rel=1e-6)
    assert euclidean_loss(sr, hr).item() == pytest.approx(F.mse_loss(sr, hr).item() * 21 * 21 / 2, rel=1e-5)


def test_srcnn_has_the_papers_depth_variants_and_its_studies_train_on_t91():
    net = build_model({"name": "srcnn", "variant": "9-3-1-5"})
    assert net.kernel_sizes == [9, 3, 1, 5] and net.channels == [64, 32, 16] and net.border == 4 + 1 + 0 + 2
    experiment = load_experiment(REPO / "experiments" / "srcnn_ablation.py")
    assert experiment.seeds == [0, 1, 2] and "9-3-1-5" in experiment.variants
    trials = check_trials(experiment, "quick")
    assert {t.config.train_set for t in trials} == {"T91"} and len(trials) == 9 * 3
    # quick: Adam, with the paper's 10x smaller rate for the last layer
    assert {(t.config.optimizer, t.config.lr, t.config.last_layer_lr_scale) for t in trials} == {("adam", 1e-3, 0.1)}


@pytest.mark.parametrize("variant, bottleneck", [("H", False), ("HL", False), ("ALL", True)])
def test_only_srdensenet_all_has_the_bottleneck(variant, bottleneck):
    net = build_model({"name": "srdensenet", "variant": variant, "scale": 4})
    assert isinstance(net.bottleneck, nn.Identity) != bottleneck
    assert not any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) for m in net.modules()) != bottleneck
    assert net(torch.rand(1, 1, 6, 6)).shape == (1, 1, 24, 24)


@pytest.mark.parametrize("variant", ["H", "HL", "ALL"])
def test_srdensenet_keeps_its_signal_through_the_64_block_layers_at_initialisation(variant):
    """He initialisation: the last dense block's output is of the order of the low-level features (PyTorch's
    default init shrank it about 26x, and H, which sees only that output, trained far slower)."""
    torch.manual_seed(0)
    net = build_model({"name": "srdensenet", "variant": variant, "scale": 4})
    low = net.low_level(torch.rand(2, 1, 16, 16))
    out = low
    for block in net.blocks:
        out = block(out)
    assert 0.5 < out.std().item() / low.std().item() < 2
    assert all(not m.bias.any() for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))


def test_srgan_mse_is_computed_on_hr_in_minus_one_to_one(tmp_path, data_root):
    from srbench.train.loop import Trainer

    for adversarial in (0.0, 1e-3):
        assert make_config({"name": "srresnet"}, 4, "paper", adversarial_weight=adversarial).target_range == "-1,1"
    config = make_config({"name": "srresnet"}, 4, "smoke", train_images=1)
    trainer = Trainer(config, tmp_path / "run", data_root, show_progress=False)
    sr, hr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    on_range = trainer.pixel_loss(trainer._to_range(sr), trainer._to_range(hr))
    assert trainer._to_range(torch.tensor([0.0, 0.5, 1.0])).tolist() == [-1.0, 0.0, 1.0]
    assert on_range.item() == pytest.approx(4 * F.mse_loss(sr, hr).item(), rel=1e-5)  # 4x the MSE on [0, 1]


def test_sftgan_recipe_is_the_authors_perceptual_l1_adversarial_and_halving_schedule():
    config = make_config({"name": "sftgan"}, 4, "paper")
    assert (config.content_loss, config.adversarial_weight, config.lr) == ("conv54_l1", 5e-3, 1e-4)
    assert (config.iterations, config.batch_size, config.patch_size) == (600_000, 16, 96)
    start = config.pretrain_iterations
    lr = lambda t: config.lr * lr_factor(config, start + t)  # noqa: E731
    assert [lr(t) for t in (0, 49_999, 50_000, 100_000, 150_000, 200_000, 599_999)] == pytest.approx(
        [1e-4, 1e-4, 5e-5, 2.5e-5, 1.25e-5, 6.25e-6, 6.25e-6]
    )
    quick = make_config({"name": "sftgan"}, 4, "quick")
    assert (quick.content_loss, quick.adversarial_weight) == ("conv54_l1", 5e-3)


def test_sftgan_discriminator_is_the_authors_4x4_stride_2_design():
    disc = build_model({"name": "sftgan_discriminator"})
    convs = [m for m in disc.features if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.stride) for c in convs] == [((3, 3), (1, 1)), ((4, 4), (2, 2))] * 4
    assert {m.negative_slope for m in disc.modules() if isinstance(m, nn.LeakyReLU)} == {0.1}
    assert disc.features(torch.rand(1, 3, 96, 96)).shape == (1, 512, 6, 6)


def test_category_loss_ignores_background_and_is_zero_when_all_is_background():
    logits = torch.randn(4, 8, requires_grad=True)
    labels = torch.tensor([0, 3, 0, 5])
    expected = F.cross_entropy(logits[[1, 3]], labels[[1, 3]])
    assert category_loss(logits, labels).item() == pytest.approx(expected.item(), rel=1e-6)
    nothing = category_loss(logits, torch.zeros(4, dtype=torch.long))
    assert nothing.item() == 0.0
    nothing.backward()  # still part of the graph
    assert logits.grad is not None and not logits.grad.any()


def test_dry_run_prints_the_recipe_the_study_resolves_to(capsys):
    from srbench.sweep.run import run_sweep

    run_sweep(str(REPO / "experiments" / "srcnn_ablation.py"), budget="paper", dry_run=True)
    out = capsys.readouterr().out
    assert (
        "  training: train_set=T91 optimizer=sgd lr=0.0001 last_layer_lr_scale=0.1 lr_schedule=constant "
        "pixel_loss=euclidean target_range=0,1 content_loss=pixel adversarial_weight=0.0 precision=auto"
    ) in out


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("momentum", "x", "field 'momentum' = 'x': must be a number"),
        ("last_layer_lr_scale", True, "field 'last_layer_lr_scale' = True: must be a number"),
        ("last_layer_lr_scale", 0, "must be positive"),
        ("optimizer", "rmsprop", "field 'optimizer' = 'rmsprop': valid: adam, sgd"),
        ("target_range", 1, "field 'target_range' = 1: must be a string"),
        ("lr_milestones", [0], "must be a list of positive iteration counts"),
        ("lr_schedule", "multistep", "the multistep schedule needs at least one milestone"),
    ],
)
def test_new_recipe_fields_are_checked_with_one_line_errors(capsys, field, value, fragment):
    from srbench.cli import main

    code = main(
        ["train", "--model", "srcnn", "--scale", "3", "--budget", "smoke", "--set", f"{field}={json.dumps(value)}"]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and fragment in err
