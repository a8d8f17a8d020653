"""A bench in MLflow: one experiment per bench (``bench-<name>``), one run per scored file, found again by its key
(the file's SHA-256, its network, scale and the protocol's digest) so a file already scored is reused."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from srbench.bench.checkpoints import Prepared, file_sha256
from srbench.bench.score import SetResult
from srbench.bench.shipping import code_file, setting_files, setting_parts
from srbench.data import get_spec
from srbench.evaluate import PROTOCOL, strict_json
from srbench.metrics import ALWAYS, get_metric, weights_options
from srbench.tracking.names import (
    FINAL_STEP,
    PER_IMAGE_TABLE,
    RESULTS_ARTIFACT,
    TAG_BENCH,
    TAG_BENCH_KEY,
    TAG_BENCH_PROTOCOL,
    TAG_GIT_COMMIT,
    TAG_HARDWARE,
    TAG_KIND,
    TAG_METRICS,
    TAG_SHA256,
    TAG_SOURCE_NAME,
    TAG_SOURCE_TYPE,
    final_metric,
)
from srbench.tracking.provenance import git_commit, software_versions
from srbench.tracking.store import Tracker

# Raised whenever bench scores differently for the same protocol text (how it runs networks, what it records):
# every cached run then misses, and is scored again.
BENCH_VERSION = 1
DIGEST_CHARS = 16


def experiment_name(bench: str) -> str:
    return f"bench-{bench}"


@dataclass(frozen=True)
class BenchProtocol:
    """What a bench scores every file with: the sets (by name and pixel digest), the metrics beyond the protocol's
    own and their weights where not the default (:func:`weights_identity`), the protocol's text and bench's version.
    Equal protocols give equal figures for the same file."""

    sets: tuple[str, ...]
    metrics: tuple[str, ...]
    weights: tuple[tuple[str, str], ...] = ()
    code: tuple[tuple[str, str], ...] = ()  # the ``file.py`` of ``--metrics file.py:NAME`` (:func:`code_identity`)

    @cached_property
    def digest(self) -> str:
        identity = {
            "version": BENCH_VERSION,
            "protocol": PROTOCOL,
            "sets": [[name, get_spec(name).set_digest] for name in self.sets],
            "metrics": list(self.metrics),
            # only where some weights are not the default: runs scored before bench took weights options keep theirs
            **({"weights": dict(self.weights)} if self.weights else {}),
            **({"code": dict(self.code)} if self.code else {}),
        }
        return _digest(identity)

    def key(self, job: Prepared) -> str:
        """One scoring of one file: its contents, the network named for it (and its ``file.py``'s contents: a file
        edited in place scores again), the scale and this protocol."""
        code = code_identity([job.checkpoint.model] if job.checkpoint.model is not None else [])
        return _digest([job.checkpoint.sha256, job.checkpoint.model, job.scale, self.digest, *code])

    def figures(self) -> set[str]:
        """The MLflow metrics a complete run has."""
        return {final_metric(s, m) for s in self.sets for m in (*ALWAYS, *self.metrics)}


def weights_identity(settings: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The weights options as a protocol tells them apart: each file by its SHA-256 (its path does not matter, its
    contents do: ``sha256:...``), keywords as they are (``random``); an option off (``none``) or at its metric's
    default (``imagenet``, what ``--metrics lpips`` alone scores with) is left out."""
    defaults = {option: weights.default for option, weights in weights_options().items()}
    identity = []
    for option, setting in sorted(settings.items()):
        files = setting_files(setting)
        parts = [f"sha256:{file_sha256(Path(part))}" if part in files else part for part in setting_parts(setting)]
        if parts not in (["none"], [defaults[option]]):
            identity.append((option, ",".join(parts)))
    return tuple(identity)


def code_identity(references: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The ``file.py`` of each ``file.py:NAME`` reference with its contents' SHA-256: the code a figure came from,
    which its path alone does not say."""
    files = dict.fromkeys(file for file in map(code_file, references) if file is not None)
    return tuple((file, file_sha256(Path(file))) for file in files)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, separators=(",", ":")).encode()).hexdigest()[:DIGEST_CHARS]


def find_scored(tracker: Tracker, experiment_id: str, protocol: BenchProtocol, job: Prepared) -> str | None:
    """The run that scored this file under this protocol, where it finished with every figure (a metric whose
    weights could not be had then is scored again)."""
    run_id = tracker.find_run(experiment_id, {TAG_BENCH_KEY: protocol.key(job)})
    if run_id is None:
        return None
    run = tracker.run(run_id)
    complete = protocol.figures() <= run.data.metrics.keys()
    return run_id if run.info.status == "FINISHED" and complete else None


def log_bench_run(
    tracker: Tracker,
    experiment_id: str,
    bench: str,
    protocol: BenchProtocol,
    job: Prepared,
    results: Sequence[SetResult],
) -> str:
    """One file's run: what it is (tags: SHA-256, key, commit, versions; params: architecture, scale, size), its
    figures per set (``Set5.psnr_y``...), and per set and image as ``results.json`` and an MLflow table."""
    checkpoint = job.checkpoint
    key = protocol.key(job)
    run_id = tracker.find_or_create_run(experiment_id, {TAG_BENCH_KEY: key}, run_name=checkpoint.path.name)
    scores = [r.score for r in results]
    scored = dict.fromkeys(name for s in scores for name in s.figures)
    # each metric with weights: which (or why it is unscored), under its own name as a trial's run has it
    weights = {name: label for r in results for name, label in r.weights.items()}
    tracker.set_tags(
        run_id,
        {
            TAG_KIND: "bench",
            TAG_BENCH: bench,
            TAG_SHA256: checkpoint.sha256,
            TAG_BENCH_PROTOCOL: protocol.digest,
            TAG_GIT_COMMIT: git_commit(),
            TAG_SOURCE_NAME: str(checkpoint.path),
            TAG_SOURCE_TYPE: "LOCAL",
            TAG_HARDWARE: "; ".join(dict.fromkeys(r.hardware for r in results)),
            TAG_METRICS: json.dumps([get_metric(name).describe() for name in scored]),
            **weights,
            **{f"version.{k}": v for k, v in software_versions().items()},
        },
    )
    tracker.log_params(
        run_id,
        {
            "file": str(checkpoint.path),
            "model": checkpoint.model or "detected",
            "architecture": job.architecture,
            "scale": job.scale,
            "parameters": job.parameters,
            "sets": ",".join(protocol.sets),
            "metrics": ",".join(protocol.metrics),
            "metric_weights": ",".join(f"{option}={setting}" for option, setting in protocol.weights) or "default",
            "protocol": PROTOCOL,
            "bench_version": BENCH_VERSION,
        },
    )
    figures = {final_metric(s.set, name): value for s in scores for name, value in s.figures.items()}
    sizes = {"parameters": job.parameters, **({"macs_per_mp": job.macs_per_mp} if job.macs_per_mp else {})}
    tracker.log_metrics(run_id, {**figures, **sizes, "wall_time_s": sum(r.seconds for r in results)}, step=FINAL_STEP)
    with tempfile.TemporaryDirectory() as folder:
        results_file = Path(folder) / RESULTS_ARTIFACT
        results_file.write_text(json.dumps({"sets": [strict_json(s.as_dict()) for s in scores]}, indent=1))
        tracker.log_artifact(run_id, results_file)
    rows = [{"set": s.set, **strict_json(row)} for s in scores for row in s.per_image]
    tracker.log_table(
        run_id, {k: [r.get(k) for r in rows] for k in dict.fromkeys(k for r in rows for k in r)}, PER_IMAGE_TABLE
    )
    tracker.finish(run_id)
    return run_id


def bench_rows(
    tracker: Tracker, experiment_id: str, protocol: BenchProtocol, current: Collection[str] = ()
) -> tuple[list[dict[str, Any]], int]:
    """The page's rows, one per entry (a file's path and the network named for it): the finished run under
    ``protocol`` of its newest version, and how many older versions (runs of the file before it was rewritten) are
    left off; those stay in MLflow. The newest is the version this command scored or reused (``current``: their
    keys), else the last scored: a file rewritten back to weights scored before shows that run again."""
    runs = tracker.runs(
        [experiment_id],
        f"tags.`{TAG_BENCH_PROTOCOL}` = '{protocol.digest}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
    )
    newest: dict[tuple[str, str], Any] = {}
    for run in sorted(runs, key=lambda r: r.data.tags[TAG_BENCH_KEY] not in current):  # stable: newest first
        newest.setdefault((run.data.params["file"], run.data.params["model"]), run)
    return [_row(run, protocol) for run in newest.values()], len(runs) - len(newest)


def _row(run: Any, protocol: BenchProtocol) -> dict[str, Any]:
    """A run as a page's row: what the file is, its figures by MLflow name (``Set5.psnr_y``), how pages show its
    further metrics, and the weights of those that take some (``random (...: not comparable)``)."""
    params, tags = run.data.params, run.data.tags
    return {
        "file": Path(params["file"]).name,
        "path": params["file"],
        "model": params["model"],
        "architecture": params["architecture"],
        "scale": int(params["scale"]),
        "sha256": tags[TAG_SHA256],
        "hardware": tags.get(TAG_HARDWARE, ""),
        "metric_specs": tags.get(TAG_METRICS, "[]"),
        "metric_weights": {name: tags[name] for name in protocol.metrics if name in tags},
        "run_id": run.info.run_id,
        **run.data.metrics,
    }
