"""Scoring a bench: one file on one set is one task, :func:`score_checkpoint_on_set`, a plain function that Ray runs
as a task (``num_cpus=1``, and one GPU where the cluster has them) and tests call directly."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from srbench.bench.checkpoints import Checkpoint, Prepared, resolve_checkpoint
from srbench.bench.shipping import Shipment, land, landed_reference, landed_setting, landing, shipment
from srbench.data import get_spec
from srbench.errors import UserError
from srbench.evaluate import SetScore, evaluate_model
from srbench.hardware import describe_hardware
from srbench.metrics import choose, prepare

TASK_RETRIES = 1  # a task whose worker died (a node lost) runs again; a UserError is never retried


@dataclass(frozen=True)
class SetResult:
    """A file's figures on one set, how long they took and on what; per metric with weights, which (or why it is
    unscored), as eval's table says it."""

    score: SetScore
    seconds: float
    hardware: str
    weights: dict[str, str] = field(default_factory=dict)


def score_checkpoint_on_set(
    checkpoint: Checkpoint,
    set_name: str,
    scale: int,
    metrics: Sequence[str],
    data_root: Path,
    download: bool = False,
    settings: Mapping[str, str] | None = None,
) -> SetResult:
    """``checkpoint``'s network on ``set_name`` at ``scale`` (its own), as ``srbench eval --weights`` scores it: PSNR-Y,
    SSIM-Y, PSNR-RGB, ``metrics`` and those the weights ``settings`` turn on (``{"lpips_weights": "random"}``, eval's
    --lpips-weights; a metric unset has its default weights; one that cannot have its weights is left out). The
    network and the metrics both on :func:`task_device`: the LR image goes to the network's device and the SR image
    comes back to the CPU (``SuperResolver``), then to ``device`` again with its HR for the metrics."""
    start = time.perf_counter()
    device = task_device()
    network = resolve_checkpoint(checkpoint, [scale])
    network.resolve.model.to(device)
    settings = settings or {}
    scorers = prepare(choose(metrics, settings), settings, lenient=True)
    [score] = evaluate_model(
        network.resolve, [get_spec(set_name)], [scale], data_root, download, scorers=scorers, device=device
    )
    weights = {s.name: s.weights_label for s in scorers if s.weights_label}
    return SetResult(score, time.perf_counter() - start, describe_hardware(), weights)


def task_device() -> torch.device:
    """The GPU where this process has one (a Ray task given a GPU sees only its own), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def score_shipped(
    checkpoint: Checkpoint, contents: bytes, shipped: Shipment, set_name: str, scale: int, data_root: Path
) -> SetResult:
    """A Ray task: the file's bytes came through Ray's object store (a cluster's nodes need not share the driver's
    files), written under the file's own name (its suffix says safetensors or torch.save), and scored with the
    network's and metrics' ``file.py`` and the metrics' weights files landed on this node
    (:mod:`srbench.bench.shipping`)."""
    code = land(shipped.code, landing())
    model = landed_reference(checkpoint.model, code) if checkpoint.model is not None else None
    metrics = [landed_reference(name, code) for name in shipped.metrics]
    with tempfile.TemporaryDirectory(prefix="srbench-bench-") as folder:
        weights = land(shipped.weights, Path(folder))
        settings = {option: landed_setting(setting, weights) for option, setting in shipped.settings.items()}
        path = Path(folder) / checkpoint.path.name
        path.write_bytes(contents)
        local = replace(checkpoint, path=path, model=model)
        return score_checkpoint_on_set(local, set_name, scale, metrics, data_root, settings=settings)


def score_on_ray(
    jobs: Sequence[Prepared],
    sets: Sequence[str],
    metrics: Sequence[str],
    settings: Mapping[str, str],
    data_root: Path,
    address: str | None,
    max_concurrent: int | None,
) -> Iterator[tuple[Prepared, SetResult]]:
    """Every job on every set as Ray tasks (a local Ray of this process's own, or the cluster at ``address``), at
    most ``max_concurrent`` at once; yields each result as it comes. The data sets must already be under
    ``data_root`` on every node (tasks never download: two would race on the same set)."""
    import ray  # only for this command

    from srbench.sweep.cluster import init_ray

    where = init_ray(address)
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=TASK_RETRIES)(score_shipped)
    contents = {job.checkpoint.sha256: ray.put(job.checkpoint.path.read_bytes()) for job in jobs}
    models = [job.checkpoint.model for job in jobs if job.checkpoint.model is not None]
    shipped = ray.put(shipment(models, metrics, settings))
    queue = [(job, s) for job in jobs for s in sets]
    print(f"scoring {len(queue)} file x set task(s) on {where}{' (1 GPU each)' if gpus else ''}", file=sys.stderr)
    pending: dict[Any, Prepared] = {}
    while queue or pending:
        while queue and len(pending) < (max_concurrent or len(queue) + len(pending)):
            job, set_name = queue.pop(0)
            ref = task.remote(job.checkpoint, contents[job.checkpoint.sha256], shipped, set_name, job.scale, data_root)
            pending[ref] = job
        [done], _ = ray.wait(list(pending), num_returns=1)
        job = pending.pop(done)
        try:
            result = ray.get(done)
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, UserError):  # the network's output held NaN, ...: one line, as eval says it
                raise UserError(f"{job.checkpoint.entry}: {exc.cause}") from None
            raise
        yield job, result
