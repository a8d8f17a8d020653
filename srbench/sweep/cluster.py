"""The Ray cluster a sweep runs on: connecting to it, and checking before any trial starts
that the sweep can run there, so a cluster user learns what to fix in seconds, not after an
hour of queued or crashed trials.

Checked: the address answers; every trial fits on the nodes (a DDP worker never spans nodes,
so one worker's GPUs must fit on one node); and a local ``--storage`` path is the same
folder on every node (Ray Train writes a trial's checkpoints from whichever node runs it,
and a resumed trial reads them from whichever node it lands on).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray._private.state import state  # what Ray Train itself reads the autoscaler's limits from
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from srbench.errors import UserError

PROBE_FOLDER = ".srbench-storage-check"
PROBE_TIMEOUT_S = 120


def check_ray_address(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, not minutes, when nothing answers at a Ray head's GCS address."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise UserError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start it with "
            f"'ray start --head' or fix --address / RAY_ADDRESS"
        ) from None


def init_ray(address: str | None, runtime_env: dict[str, Any] | None = None) -> str:
    """Connect to the cluster at ``address`` (or $RAY_ADDRESS), else start a new local Ray of this process's
    own, never joining a cluster some other ``ray start`` left running on the machine; returns where, in words,
    for messages. ``runtime_env``: the job's code on every node (``srbench.study_code``); a Ray this process
    already runs keeps its own (its workers share this machine's files)."""
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        check_ray_address(address)
    where = f"the Ray cluster at {address}" if address else "the local Ray"
    if ray.is_initialized():
        return where
    try:
        # Ray's connection notices (INFO) would bury srbench's own one-line messages.
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING, runtime_env=runtime_env)
        else:
            _start_local_ray(runtime_env)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        if runtime_env and "working_dir" in str(exc):
            raise UserError(
                f"cannot ship the study's folder {runtime_env['working_dir']} to the Ray workers: "
                f"{str(exc).splitlines()[0]}; keep the study file and its code in a folder of their "
                f"own"
            ) from None
        raise UserError(
            f"cannot connect to {where}: {str(exc).splitlines()[0]}; check --address / "
            f"RAY_ADDRESS (e.g. 127.0.0.1:6379 for 'ray start --head')"
        ) from None
    return where


LOCAL_RAY_STARTS = 3  # Ray gives its local node 30 s to start, which a busy 2-core machine can overrun


def _start_local_ray(runtime_env: dict[str, Any] | None) -> None:
    """A local Ray of this process's own, retried: its node may miss its start-up deadline on a busy machine."""
    for attempt in range(1, LOCAL_RAY_STARTS + 1):
        try:
            ray.init(
                address="local",
                log_to_driver=False,
                include_dashboard=False,
                logging_level=logging.WARNING,
                runtime_env=runtime_env,
            )
            return
        except Exception as exc:  # Ray raises a bare Exception for this one
            if "timed out during startup" not in str(exc) or attempt == LOCAL_RAY_STARTS:
                raise
            ray.shutdown()
            print(
                f"srbench: the local Ray node did not start within Ray's 30 s (a busy machine); starting it again "
                f"({attempt + 1} of {LOCAL_RAY_STARTS})",
                file=sys.stderr,
                flush=True,
            )


@dataclass(frozen=True)
class TrialShape:
    """The resources of one trial: ``workers`` DDP workers, each on a single node."""

    workers: int
    cpus_per_worker: float
    gpus_per_worker: float

    def describe(self) -> str:
        gpu = f" + {self.gpus_per_worker:g} GPU" if self.gpus_per_worker else ""
        return f"{self.workers} DDP worker(s) x ({self.cpus_per_worker:g} CPU{gpu})"

    def check_gpus(self, where: str) -> None:
        """Refuse, before Ray starts, shapes the training loop cannot use: a worker drives one GPU
        (``train.device``), and NCCL cannot put two ranks of one process group on one GPU (fractional GPUs
        with several workers could)."""
        gpus, workers = self.gpus_per_worker, self.workers
        if gpus > 1:
            raise UserError(
                f"{where}: gpus_per_worker = {gpus:g}: a DDP worker drives one GPU; use "
                f"workers_per_trial = {workers * round(gpus)} with gpus_per_worker = 1 instead"
            )
        if 0 < gpus < 1 and workers > 1:
            raise UserError(
                f"{where}: gpus_per_worker = {gpus:g} with workers_per_trial = {workers}: two workers "
                f"of one trial could share a GPU, which NCCL refuses; give fractional GPUs to "
                f"single-worker trials only, or use gpus_per_worker = 1"
            )


def node_shapes() -> list[dict[str, float]]:
    """CPU and GPU of every node the cluster has or can add: its alive nodes, plus one node of
    each autoscaling group (KubeRay, cluster launcher) that may still be scaled up."""
    shapes = [
        {"CPU": n["Resources"].get("CPU", 0.0), "GPU": n["Resources"].get("GPU", 0.0)}
        for n in ray.nodes()
        if n["Alive"]
    ]
    try:
        config = state.get_cluster_config()
    except Exception:  # noqa: BLE001  (no autoscaler state: a fixed cluster)
        config = None
    for group in config.node_group_configs if config is not None else []:
        if group.max_count != 0:
            shapes.append(
                {
                    "CPU": float(group.resources.get("CPU", 0)),
                    "GPU": float(group.resources.get("GPU", 0)),
                    "autoscaling": float(group.max_count if group.max_count > 0 else 1e9),
                }
            )
    return shapes


def trials_at_once(shape: TrialShape, where: str, max_concurrent: int | None = None) -> int:
    """How many trials can run side by side; a one-line error when not even one ever can."""
    nodes = node_shapes()
    per_worker = {"CPU": shape.cpus_per_worker, "GPU": shape.gpus_per_worker}
    for resource, need in per_worker.items():
        largest = max((n[resource] for n in nodes), default=0.0)
        if need > largest:
            flag = "--gpus-per-worker" if resource == "GPU" else "--cpus-per-worker"
            raise UserError(
                f"one DDP worker needs {need:g} {resource}, but the largest node of {where} has "
                f"{largest:g} {resource} ({len(nodes)} node(s)); a worker cannot span nodes: lower "
                f"{flag}, or add nodes with at least {need:g} {resource}"
            )
    # Whole workers per node: 2 workers x 1 GPU do not fit on two nodes with 0.5 GPU each.
    capacity = 0
    for node in nodes:
        fits = min(int(node[r] // need) for r, need in per_worker.items() if need)
        capacity += fits * int(node.get("autoscaling", 1))
    if capacity < shape.workers:
        raise UserError(
            f"one trial needs {shape.describe()}, but {where} can host only {capacity} such worker(s) "
            f"at once; lower --workers-per-trial or add nodes"
        )
    fit = capacity // shape.workers
    return min(fit, max_concurrent) if max_concurrent else fit


def check_storage_shared(storage: Path, where: str) -> None:
    """A local ``--storage`` path must be one folder on every node: write a file here and look for
    it from every alive node, and let each node write one that must appear here."""
    nodes = [n for n in ray.nodes() if n["Alive"]]
    if len(nodes) < 2:
        return
    probe_dir = storage / PROBE_FOLDER
    token = uuid.uuid4().hex
    try:
        probe_dir.mkdir(parents=True, exist_ok=True)
        (probe_dir / token).write_text(token)
    except OSError as exc:
        raise UserError(f"--storage {storage}: cannot write there ({exc.strerror or exc})") from None

    @ray.remote(num_cpus=0, max_retries=0)
    def look(folder: str, token: str, node_id: str) -> bool:
        seen = (Path(folder) / token).is_file()
        try:
            (Path(folder) / f"{token}.{node_id}").write_text(node_id)
        except OSError:
            pass
        return seen

    try:
        pending = {
            n["NodeID"]: look.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
            ).remote(str(probe_dir), token, n["NodeID"])
            for n in nodes
        }
        seen = dict(zip(pending, ray.get(list(pending.values()), timeout=PROBE_TIMEOUT_S)))
        blind = [n for n in nodes if not seen[n["NodeID"]] or not (probe_dir / f"{token}.{n['NodeID']}").is_file()]
    except ray.exceptions.GetTimeoutError:
        raise UserError(
            f"--storage {storage}: the nodes of {where} did not answer a storage check within "
            f"{PROBE_TIMEOUT_S} s; are all nodes healthy ('ray status')?"
        ) from None
    finally:
        for path in probe_dir.glob(f"{token}*"):
            path.unlink(missing_ok=True)
        if not any(probe_dir.iterdir()):
            probe_dir.rmdir()
    if blind:
        names = ", ".join(f"{n['NodeManagerAddress']} (node {n['NodeID'][:8]})" for n in blind)
        raise UserError(
            f"--storage {storage} is not shared by every node of {where}: {names} cannot see what this "
            f"machine writes there, so checkpoints would be lost or not found on resume; use a "
            f"folder on a shared filesystem (NFS) mounted at the same path on every node, or an "
            f"s3:// / gs:// URI"
        )
