"""Screenshots of the MLflow UI on an srbench store, as a user sees it: the study's runs table, one trial run
and the chart view. Starts `mlflow ui` on 127.0.0.1 (a free port), renders each page with headless Chromium
(Debian's `chromium` package), and stops everything it started, also on failure.

    python scripts/ui_snapshots.py --tracking-uri sqlite:///$PWD/mlflow.db --study srcnn_ablation --out ui-snapshots
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from srbench.tracking.names import TAG_KIND, TAG_SHARED_VIEW, TAG_SWEEP
from srbench.tracking.store import Tracker


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_ui(tracking_uri: str, port: int, log: Path) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "ui",
            "--backend-store-uri",
            tracking_uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"mlflow ui exited: {log.read_text()[-1500:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return server
        except OSError:
            time.sleep(1)
    stop(server)
    raise SystemExit("mlflow ui did not answer within 180 s")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def screenshot(browser: str, url: str, out: Path) -> None:
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=2000,1000",
            "--virtual-time-budget=15000",
            f"--screenshot={out}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    print(f"{out}  <-  {url}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=f"sqlite:///{Path.cwd() / 'mlflow.db'}")
    parser.add_argument("--study", required=True, help="the study (MLflow experiment) to show")
    parser.add_argument("--out", type=Path, default=Path("ui-snapshots"))
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("no chromium on PATH: apt-get install -y chromium")
    tracker = Tracker(args.tracking_uri)
    experiment = tracker.client.get_experiment_by_name(args.study)
    if experiment is None:
        raise SystemExit(f"no study '{args.study}' in {args.tracking_uri}")
    trials = tracker.client.search_runs([experiment.experiment_id], f"tags.`{TAG_KIND}` = 'trial'", max_results=1)
    sweeps = tracker.client.search_runs(
        [experiment.experiment_id],
        f"tags.`{TAG_KIND}` = 'sweep'",
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    # The latest sweep's saved view, as the sweep's printed link opens it
    view = (
        f"?viewStateShareKey={sweeps[0].data.tags[TAG_SWEEP]}"
        if sweeps and TAG_SHARED_VIEW + sweeps[0].data.tags[TAG_SWEEP] in experiment.tags
        else ""
    )
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = start_ui(args.tracking_uri, port, args.out / "mlflow-ui.log")
    try:
        base = f"http://127.0.0.1:{port}/#/experiments/{experiment.experiment_id}"
        screenshot(browser, f"{base}/runs{view}", args.out / "runs.png")
        screenshot(browser, f"{base}/runs{view}{'&' if view else '?'}compareRunsMode=CHART", args.out / "charts.png")
        if trials:
            screenshot(browser, f"{base}/runs/{trials[0].info.run_id}", args.out / "trial.png")
    finally:
        stop(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
