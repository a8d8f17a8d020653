"""A real two-node Ray cluster and a real MLflow tracking server on 127.0.0.1, driven the way a
cluster user drives srbench: ``python -m srbench sweep --address ... --tracking-uri http://...
--storage <shared folder>``.

The head and the second node are separate ``ray start --block`` processes, each with one CPU
and a custom resource of its own (``node_a`` / ``node_b``), so that a 2-worker DDP trial must
put one worker on each. The second node runs in a mount namespace of its own where
``private/`` is an empty tmpfs: the realistic case of a folder that exists on every node but
is not the same folder (node-local disk instead of NFS). Everything started here is stopped
at the end, also when a test fails, and the module checks that nothing was left behind.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from srbench.tracking.names import TAG_BUDGET, TAG_HARDWARE, TAG_KIND, TAG_LPIPS, TAG_NODES
from srbench.tracking.store import Tracker

from conftest import REPO
from processes import kill_session, session_members, stop_session
from user_networks import TINY_SR

SWEEP_TIMEOUT = 900  # a guard against a hung sweep (two 2-worker trials in turn on a busy machine), not a target
BIN = Path(sys.executable).parent
# The server runs MLflow's basic-auth app, as cluster/mlflow does; srbench (driver and Ray workers) logs as this user.
MLFLOW_USER = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": secrets.token_hex(16)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


@dataclass
class Cluster:
    address: str
    env: dict[str, str]
    nodes: dict[str, str]  # Ray node id -> "node_a" / "node_b"
    shared: Path  # the same folder on both nodes
    private: Path | None  # an empty tmpfs on node_b only (None where mount namespaces are not allowed)


def start(cmd: list[str], log: Path, env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd
    )


def can_unshare_mounts() -> bool:
    return (
        shutil.which("unshare") is not None
        and subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True).returncode
        == 0
    )


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = folder / "server.log"
    # cluster/mlflow's own configuration, its user database moved here
    auth = configparser.ConfigParser()
    auth.read(REPO / "cluster" / "mlflow" / "basic_auth.ini")
    auth["mlflow"]["database_uri"] = f"sqlite:///{folder / 'basic_auth.db'}"
    with open(folder / "basic_auth.ini", "w") as ini:
        auth.write(ini)
    proc = start(
        [
            str(BIN / "mlflow"),
            "server",
            "--app-name",
            "basic-auth",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
        ],
        log,
        # No background job runners (MLflow 3 starts several): nothing here uses them.
        {
            **os.environ,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_AUTH_CONFIG_PATH": str(folder / "basic_auth.ini"),
            "MLFLOW_AUTH_ADMIN_PASSWORD": MLFLOW_USER["MLFLOW_TRACKING_PASSWORD"],
            "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
        },
        cwd=folder,
    )
    uri = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return urllib.request.urlopen(f"{uri}/health", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, "mlflow server", proc, log)
        yield uri, folder
    finally:
        sid = os.getsid(proc.pid) if proc.poll() is None else None
        stop_session(proc, grace=10)
        assert sid is None or not session_members(sid), "mlflow server processes left behind"


@pytest.fixture(scope="module")
def cluster():
    root = Path(tempfile.mkdtemp(prefix="srb-", dir="/tmp"))  # short: Ray's socket paths have a length limit
    shared, private = root / "shared", root / "private"
    shared.mkdir()
    private.mkdir()
    env = {
        **os.environ,
        **MLFLOW_USER,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_raylet_start_wait_time_s": "180",  # a loaded CI machine can be slow to register a node
        "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
    }  # draining on SIGTERM is for Ray Serve; nothing to drain
    env.pop("RAY_ADDRESS", None)
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = [
        "--block",
        "--node-ip-address",
        "127.0.0.1",
        "--num-cpus",
        "1",
        "--temp-dir",
        str(root / "ray"),
        "--disable-usage-stats",
    ]
    procs: list[subprocess.Popen] = []
    isolated = can_unshare_mounts()
    try:
        # The head also declares one (logical) GPU, so that GPU sizing is checked against a real node.
        procs.append(
            start(
                [
                    str(BIN / "ray"),
                    "start",
                    "--head",
                    "--port",
                    str(port),
                    "--include-dashboard",
                    "false",
                    "--num-gpus",
                    "1",
                    "--resources",
                    '{"node_a": 1}',
                    *common,
                ],
                root / "head.log",
                env,
            )
        )
        wait_for(
            lambda: (root / "head.log").exists() and "Ray runtime started" in (root / "head.log").read_text(),
            "the Ray head",
            procs[0],
            root / "head.log",
        )
        node_cmd = [str(BIN / "ray"), "start", "--address", address, "--resources", '{"node_b": 1}', *common]
        if isolated:
            node_cmd = [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                'mount -t tmpfs srbench-node-local "$0" && exec "$@"',
                str(private),
                *node_cmd,
            ]
        procs.append(start(node_cmd, root / "node.log", env))
        listing = subprocess.run(
            [
                sys.executable,
                "-c",
                "import json, time, ray\n"
                f"ray.init(address='{address}', log_to_driver=False)\n"
                "deadline = time.time() + 90\n"
                "while sum(n['Alive'] for n in ray.nodes()) < 2 and time.time() < deadline: time.sleep(0.5)\n"
                "print('NODES', json.dumps({n['NodeID']: sorted(n['Resources']) for n in ray.nodes() if n['Alive']}))",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=150,
        )
        # Ray may print its own lines to stdout as well: read only ours.
        found = [line.removeprefix("NODES ") for line in listing.stdout.splitlines() if line.startswith("NODES {")]
        assert found, f"listing the nodes failed:\n{listing.stdout[-2000:]}\n{listing.stderr[-2000:]}"
        resources = json.loads(found[-1])
        nodes = {node: next(r for r in keys if r.startswith("node_")) for node, keys in resources.items()}
        assert sorted(nodes.values()) == ["node_a", "node_b"], (resources, (root / "node.log").read_text()[-2000:])
        yield Cluster(address, env, nodes, shared, private if isolated else None)
    finally:
        sids = [os.getsid(p.pid) for p in procs if p.poll() is None]
        for proc in reversed(procs):
            stop_session(proc, grace=30)
        shutil.rmtree(root, ignore_errors=True)
        assert not any(session_members(sid) for sid in sids), "Ray processes left behind"


# A researcher's network in a module beside the study file, outside srbench, and a study that sets it beside SRCNN.
MIXED_STUDY = """
from srbench.experiment import Experiment
from srbench.models.registry import register
from tiny_nets import TinySR

register("tinysr", "two convolutions and a pixel shuffle (RGB)", "srbench's two-node test")(TinySR)
EXPERIMENT = Experiment(name="lab_study", model={"name": "srcnn"}, scale=3,
                        variants={"9-1-5": {}, "tiny": {"model.name": "tinysr"}}, train={"val_images": 2})
"""


def lab_study(cluster: Cluster, tmp_path: Path) -> Path:
    """The mixed study, where only the driver sees it: under ``private/`` the second node sees an empty tmpfs."""
    folder = (cluster.private or tmp_path) / "lab"
    folder.mkdir(exist_ok=True)
    (folder / "tiny_nets.py").write_text(TINY_SR)
    (folder / "lab_study.py").write_text(MIXED_STUDY)
    return folder / "lab_study.py"


def sweep(
    cluster: Cluster,
    tracking_uri: str,
    cwd: Path,
    data_root: Path,
    *flags: str,
    study: Path = REPO / "experiments" / "srcnn_ablation.py",
) -> subprocess.CompletedProcess:
    """``python -m srbench sweep`` against the cluster, in its own session so nothing outlives a timeout."""
    env = {**cluster.env, "SRBENCH_DATA": str(data_root)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "srbench",
            "sweep",
            str(study),
            "--budget",
            "smoke",
            "--address",
            cluster.address,
            "--tracking-uri",
            tracking_uri,
            *flags,
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=SWEEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_session(proc)
        out, err = proc.communicate()
        pytest.fail(f"the sweep took more than {SWEEP_TIMEOUT} s:\n{out[-3000:]}\n{err[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_ddp_trials_span_both_nodes_tracked_on_the_server(cluster, mlflow_server, tmp_path, data_root, monkeypatch):
    """A zoo network and the researcher's own, defined in a module only the driver's machine has (Ray's runtime
    environment brings it to the second node), each trained by a 2-worker trial across both nodes."""
    uri, server_folder = mlflow_server
    for name, value in MLFLOW_USER.items():
        monkeypatch.setenv(name, value)
    storage = cluster.shared / "ray_results"
    result = sweep(
        cluster,
        uri,
        tmp_path,
        data_root,
        "--storage",
        str(storage),
        "--workers-per-trial",
        "2",
        study=lab_study(cluster, tmp_path),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 of 2 trials finished" in result.stdout

    tracker = Tracker(uri)
    experiment = tracker.client.get_experiment_by_name("lab_study")
    runs = tracker.client.search_runs([experiment.experiment_id], filter_string=f"tags.`{TAG_KIND}` = 'trial'")
    assert sorted(r.info.run_name for r in runs) == ["9-1-5_seed0", "tiny_seed0"]
    [parent] = tracker.client.search_runs([experiment.experiment_id], filter_string=f"tags.`{TAG_KIND}` = 'sweep'")
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.params["workers"] == "2"
        assert run.data.params["model.name"] == {"9-1-5_seed0": "srcnn", "tiny_seed0": "tinysr"}[run.info.run_name]
        assert run.data.tags[TAG_BUDGET] == "smoke" and run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        for s in ("Set5", "Set14", "BSD100"):
            assert 0 < run.data.metrics[f"{s}.psnr_y"] < 100 and 0 < run.data.metrics[f"{s}.ssim_y"] <= 1
            assert f"{s}.lpips" not in run.data.metrics  # not a GAN study: no perceptual metric
        assert run.data.tags[TAG_LPIPS] == "n/a"
        ranks = run.data.tags["ray.worker_nodes"].split(",")
        assert sorted(cluster.nodes[node] for node in ranks) == ["node_a", "node_b"], ranks
        # Artifacts went through the server (proxied), into its artifact store.
        crops = [a.path for a in tracker.client.list_artifacts(run.info.run_id, "crops")]
        assert sorted(crops) == [
            "crops/BSD100-101085-detail.png",
            "crops/Set14-baboon-detail.png",
            "crops/Set5-baby-detail.png",
        ]
        assert "2 processes on 2 nodes" in run.data.tags[TAG_HARDWARE] and run.data.tags[TAG_NODES] == "2"
        sweep_id = run.data.tags["srbench.sweep"]
        assert sweep_id == parent.data.tags["srbench.sweep"] and sweep_id.startswith("lab_study-smoke-")
        assert list((storage / f"{sweep_id}-{run.info.run_name}").rglob("last.pt"))
    assert any((server_folder / "artifacts").rglob("*.png"))
    assert not (storage / ".srbench-storage-check").exists()

    # The leaderboard written at the end of the sweep comes from the server, and regenerating it
    # there, from nothing but the server, gives the same page.
    page = (tmp_path / "leaderboards-smoke" / "lab_study.md").read_text()
    assert all(r.info.run_id in page for r in runs) and "| 9-1-5 |" in page and "| tiny |" in page
    assert re.search(r"\| bicubic \(first \d+ per set\) \|", page)  # smoke scores subsets: bicubic on the same
    for picture in ("psnr-vs-params", "curves", "strip"):
        assert f"(lab_study-{picture}.png)" in page
        assert (tmp_path / "leaderboards-smoke" / f"lab_study-{picture}.png").exists()
    logged = [a.path for a in tracker.client.list_artifacts(parent.info.run_id, "leaderboard")]
    assert "leaderboard/lab_study-strip.png" in logged
    again = subprocess.run(
        [sys.executable, "-m", "srbench", "leaderboard", "--tracking-uri", uri, "--out", "again"],
        cwd=tmp_path,
        env={**os.environ, **MLFLOW_USER, "SRBENCH_DATA": str(data_root)},
        capture_output=True,
        text=True,
        timeout=SWEEP_TIMEOUT,
    )
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again" / "lab_study.md").read_text() == page
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlflow.db").exists()


def test_storage_not_shared_by_every_node_is_refused(cluster, mlflow_server, tmp_path, data_root):
    if cluster.private is None:
        pytest.skip("mount namespaces are not allowed here (unshare --mount failed), so no node-local folder")
    result = sweep(
        cluster,
        mlflow_server[0],
        tmp_path,
        data_root,
        "--storage",
        str(cluster.private / "runs"),
        "--only",
        "9-1-5_seed0",
    )
    assert result.returncode == 2, result.stderr[-3000:]
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error, error
    assert f"--storage {cluster.private / 'runs'} is not shared by every node" in error
    node_b = next(node for node, name in cluster.nodes.items() if name == "node_b")
    assert node_b[:8] in error and "NFS" in error
    assert not list((cluster.private / "runs").rglob("*.pt"))


@pytest.mark.parametrize(
    "flags,fragment",
    [
        (
            ["--cpus-per-worker", "2"],
            "one DDP worker needs 2 CPU, but the largest node of the Ray cluster at {address} "
            "has 1 CPU (2 node(s)); a worker cannot span nodes",
        ),
        (
            ["--workers-per-trial", "4"],
            "one trial needs 4 DDP worker(s) x (1 CPU), but the Ray cluster at {address} can "
            "host only 2 such worker(s) at once",
        ),
    ],
)
def test_trials_that_no_node_can_host_are_refused(cluster, mlflow_server, tmp_path, data_root, flags, fragment):
    result = sweep(
        cluster,
        mlflow_server[0],
        tmp_path,
        data_root,
        "--storage",
        str(cluster.shared / "sizes"),
        "--only",
        "9-1-5_seed0",
        *flags,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1 and fragment.format(address=cluster.address) in error, error


@pytest.mark.parametrize(
    "password,fragment",
    [
        (None, "refused anonymous access (HTTP 401); set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"),
        ("wrong", "refused the user 'admin' (HTTP 401); check MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD"),
    ],
)
def test_a_server_that_refuses_the_credentials_is_one_line_before_ray(
    cluster, mlflow_server, tmp_path, data_root, password, fragment
):
    """The server asks for a password (its /health does not): said before any trial, not as a worker's traceback."""
    env = {**cluster.env, "SRBENCH_DATA": str(data_root), "MLFLOW_TRACKING_PASSWORD": password or ""}
    if password is None:
        env = {k: v for k, v in env.items() if not k.startswith("MLFLOW_TRACKING_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "srbench",
            "sweep",
            str(REPO / "experiments" / "srcnn_ablation.py"),
            "--budget",
            "smoke",
            "--only",
            "9-1-5_seed0",
            "--address",
            cluster.address,
            "--tracking-uri",
            mlflow_server[0],
            "--storage",
            str(cluster.shared / "auth"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=SWEEP_TIMEOUT,
    )
    error = result.stderr.strip()
    assert result.returncode == 2 and len(error.splitlines()) == 1 and fragment in error, error
    assert not (cluster.shared / "auth").exists()
