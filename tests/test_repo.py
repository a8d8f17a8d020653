"""The README's Quick start and .ci/run stay in step; generated state is not committed."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import REPO


def quick_start_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"## Quick start\s+```bash\n(.*?)```", readme, re.S)
    assert block, "README has no Quick start code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_is_exactly_install_then_tests():
    install, test = quick_start_commands()
    assert install.startswith("pip install") and "pytest" in test


def test_ci_runs_the_readme_commands_and_fails_on_no_tests():
    ci = (REPO / ".ci" / "run").read_text()
    install, test = quick_start_commands()
    assert install in ci
    assert test + " || status=$?" in ci
    assert '"$status" -eq 5' in ci and "exit 1" in ci


def test_gitignore_keeps_generated_state_out():
    ignored = (REPO / ".gitignore").read_text().split()
    for entry in ("mlruns/", "mlflow.db", "ray_results/", "/data/"):
        assert entry in ignored


def test_importing_srbench_makes_openmp_wait_passively_unless_the_user_chose():
    probe = "import os, srbench, torch; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    chosen = {**env, "OMP_WAIT_POLICY": "ACTIVE"}
    for environ, expected in ((env, "PASSIVE"), (chosen, "ACTIVE")):
        out = subprocess.run([sys.executable, "-c", probe], env=environ, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected


def test_every_package_folder_is_packaged_and_the_studies_ship_as_srbench_studies():
    import tomllib

    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "srbench").rglob("*.py")}
    assert folders <= set(setuptools["packages"]), folders - set(setuptools["packages"])
    assert setuptools["package-dir"] == {"srbench.studies": "experiments"}
    assert (REPO / "experiments" / "__init__.py").is_file()


def test_a_shipped_study_runs_by_name_from_an_empty_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    listed = subprocess.run(
        [sys.executable, "-m", "srbench", "studies"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0 and re.search(r"^srcnn_ablation\s+x3\s+27\s", listed.stdout, re.M), listed.stderr
    assert re.search(r"^srcnn_lr_search\s+x3\s+6\s", listed.stdout, re.M)  # its 6 samples are 6 trials
    dry = subprocess.run(
        [
            sys.executable,
            "-m",
            "srbench",
            "sweep",
            "srcnn_ablation",
            "--budget",
            "smoke",
            "--only",
            "9-1-5*",
            "--dry-run",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dry.returncode == 0 and "9-1-5_seed2" in dry.stdout and "9-3-5" not in dry.stdout, dry.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "srbench", "sweep", "srcnn_ablaton", "--dry-run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "'srcnn_ablaton' is not a study srbench ships (sftgan_ablation" in missing.stderr
    assert "did you mean 'srcnn_ablation'?" in missing.stderr
    slip = subprocess.run(
        [sys.executable, "-m", "srbench", "sweep", str(REPO / "experiments" / "srcnn_ablaton.py"), "--dry-run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert slip.returncode == 2 and f"did you mean {REPO / 'experiments' / 'srcnn_ablation.py'}?" in slip.stderr
    assert not list(tmp_path.iterdir())  # nothing written
