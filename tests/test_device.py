"""Which device a trial's worker trains on, and the trial shapes refused before Ray starts (CPU-only machines:
GPU visibility is simulated through the same function the worker calls)."""

from __future__ import annotations

import pytest
import torch

from srbench.cli import main
from srbench.errors import UserError
from srbench.sweep.cluster import TrialShape
from srbench.train.data import PatchSampler
from srbench.train.device import choose_device

from conftest import REPO


def never_assigned() -> torch.device:
    raise AssertionError("a worker without GPUs must not ask Ray for its GPU")


def test_a_worker_without_gpus_trains_on_the_cpu_even_where_gpus_are_visible(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU node: Ray leaves them visible
    assert choose_device(0, never_assigned) == torch.device("cpu")


@pytest.mark.parametrize("gpus", [1, 0.25])
def test_a_gpu_worker_trains_on_the_gpu_ray_assigned(monkeypatch, gpus):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device(gpus, lambda: torch.device("cuda", 3)) == torch.device("cuda", 3)  # not LOCAL_RANK's


def test_a_gpu_worker_that_sees_no_gpu_fails_at_once(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="reserved 1 GPU per worker but its worker sees no CUDA GPU"):
        choose_device(1, never_assigned)


@pytest.mark.parametrize(
    "workers, gpus, fragment",
    [
        (1, 2, "gpus_per_worker = 2: a DDP worker drives one GPU; use workers_per_trial = 2 with gpus_per_worker = 1"),
        (2, 0.5, "gpus_per_worker = 0.5 with workers_per_trial = 2: two workers of one trial could share a GPU"),
    ],
)
def test_unusable_gpu_shapes_are_refused(workers, gpus, fragment):
    with pytest.raises(UserError, match=fragment.replace("(", r"\(")):
        TrialShape(workers, 1, gpus).check_gpus("study.py")
    TrialShape(1, 1, 0.25).check_gpus("study.py")  # fractional GPUs for single-worker trials are fine
    TrialShape(4, 1, 1).check_gpus("study.py")


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--gpus-per-worker", "2"], "--gpus-per-worker 2: a DDP worker drives one GPU"),
        (["--gpus-per-worker", "0.5", "--workers-per-trial", "2"], "could share a GPU"),
        (["--workers-per-trial", "3"], "field 'batch_size' = 64 does not split into 3 equal shares"),
    ],
)
def test_refused_trial_shapes_are_one_line_before_ray_starts(ray_starts, capsys, flags, fragment):

    code = main(["sweep", str(REPO / "experiments" / "srcnn_ablation.py"), "--budget", "quick", "--dry-run", *flags])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and fragment in err
    assert ray_starts == []


def test_ranks_take_equal_disjoint_shares_of_one_global_batch(data_root):
    sampler = PatchSampler("T91", 3, 33, 1, "bicubic", data_root, 4)
    whole = sampler.sample(torch.Generator().manual_seed(0), 8)
    shares = [sampler.sample(torch.Generator().manual_seed(0), 8, rank, 2) for rank in (0, 1)]
    assert [len(s.targets) for s in shares] == [4, 4]
    assert torch.equal(
        torch.cat([shares[0].targets, shares[1].targets]).sort(dim=0).values, whole.targets.sort(dim=0).values
    )
    with pytest.raises(ValueError, match="batch_size 8 does not split into 3 equal shares"):
        sampler.sample(torch.Generator().manual_seed(0), 8, 0, 3)


def test_the_hardware_of_a_run_is_what_it_reserved_not_what_the_node_has(monkeypatch):
    from srbench.hardware import describe_trial_hardware

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A10G")
    assert describe_trial_hardware(torch.device("cuda", 0), 2, 1, 2) == "2 workers x 1 NVIDIA A10G on 2 nodes"
    assert describe_trial_hardware(torch.device("cuda", 0), 1, 0.25, 1) == "1 worker x 0.25 NVIDIA A10G on 1 node"
    assert describe_trial_hardware(torch.device("cpu"), 1, 0, 1).endswith("(CPU), 1 process on 1 node")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("model, scale", [({"name": "srcnn"}, 3), ({"name": "srresnet"}, 4)])
def test_a_training_iteration_on_a_gpu_never_makes_the_host_wait(tmp_path, data_root, model, scale):
    """Sampling a batch and one update queue their work on the GPU: any synchronising call (a pageable copy, an
    ``.item()``) raises under torch's sync debug mode. Losses are read only every ``log_every``."""
    from srbench.train.config import make_config
    from srbench.train.loop import Trainer

    trainer = Trainer(make_config(model, scale, "smoke"), tmp_path / "run", data_root, show_progress=False)
    assert trainer.device.type == "cuda"

    def iteration() -> None:
        trainer._step(trainer.sampler.sample(trainer.sampler_rng, trainer.config.batch_size))

    iteration()  # the first allocates and picks kernels
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            iteration()
    finally:
        torch.cuda.set_sync_debug_mode("default")
