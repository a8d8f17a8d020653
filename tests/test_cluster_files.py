"""The files in cluster/: Ray's own schema for the cluster-launcher config, the keys KubeRay and
docker compose need, consistency between them (Ray version, shared mount, cluster name,
variables), and every srbench command they or cluster/README.md spell out accepted by
srbench's own command-line parser."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import ray
import yaml

from srbench.cli import build_parser

from conftest import REPO

CLUSTER = REPO / "cluster"
SHARED = "/mnt/shared"


def ray_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def parse_srbench(command: str):
    """Parse ``python -m srbench ...`` (or a bare ``srbench ...``) with srbench's own parser."""
    words = shlex.split(command)
    start = words.index("srbench") + 1
    try:
        return build_parser().parse_args(words[start:])
    except SystemExit as exc:
        raise AssertionError(f"srbench rejects: {command}") from exc


def test_ray_cluster_launcher_config_passes_rays_validation():
    from ray.autoscaler._private.commands import prepare_config
    from ray.autoscaler._private.util import validate_config

    config = yaml.safe_load((CLUSTER / "ray-cluster.yaml").read_text())
    validate_config(prepare_config(config))  # Ray's JSON schema, after Ray fills in its defaults
    nodes = config["available_node_types"]
    assert nodes[config["head_node_type"]]["resources"]["CPU"] == 0, "no trial worker on the head"
    workers = [n for name, n in nodes.items() if name != config["head_node_type"]]
    assert workers and all(
        n["resources"].get("GPU", 0) >= 1 and n["max_workers"] <= config["max_workers"] for n in workers
    )
    image_ray = re.search(r"rayproject/ray:([\d.]+)-", config["docker"]["image"]).group(1)
    assert ray_minor(image_ray) == ray_minor(ray.__version__)
    assert any(f"{SHARED}:{SHARED}" in option for option in config["docker"]["run_options"])
    assert any("pip install" in c and "/home/ray/srbench" in c for c in config["setup_commands"])
    assert "/home/ray/srbench" in config["file_mounts"]


def test_a_typo_in_the_launcher_config_is_caught_by_that_validation():
    from ray.autoscaler._private.commands import prepare_config
    from ray.autoscaler._private.util import validate_config

    config = yaml.safe_load((CLUSTER / "ray-cluster.yaml").read_text())
    config["max_workerz"] = config.pop("max_workers")
    with pytest.raises(Exception, match="max_workerz"):
        validate_config(prepare_config(config))


def kuberay_documents() -> tuple[dict, dict]:
    docs = {doc["kind"]: doc for doc in load_all(CLUSTER / "kuberay" / "raycluster.yaml")}
    return docs["RayCluster"], docs["PersistentVolumeClaim"]


def pod_specs(cluster: dict) -> list[dict]:
    spec = cluster["spec"]
    return [spec["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in spec["workerGroupSpecs"]]


def test_kuberay_raycluster_has_what_kuberay_and_srbench_need():
    cluster, claim = kuberay_documents()
    assert cluster["apiVersion"] == "ray.io/v1" and claim["apiVersion"] == "v1"
    assert ray_minor(cluster["spec"]["rayVersion"]) == ray_minor(ray.__version__)
    assert cluster["spec"]["enableInTreeAutoscaling"] is True
    # KubeRay passes rayStartParams to `ray start` and requires string values.
    groups = [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]
    assert all(isinstance(v, str) for g in groups for v in g["rayStartParams"].values())
    assert cluster["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    for group in cluster["spec"]["workerGroupSpecs"]:
        assert group["groupName"] and 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        (container,) = group["template"]["spec"]["containers"]
        assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    # One ReadWriteMany claim, mounted at the same path in every pod: --storage must be shared.
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    images = set()
    for pod in pod_specs(cluster):
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            images.add(container["image"])
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert volumes[mounts[SHARED]]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
            env = {e["name"]: e["value"] for e in container["env"]}
            assert env["SRBENCH_DATA"].startswith(SHARED + "/") and env["MLFLOW_TRACKING_URI"].startswith("http")
    assert len(images) == 1, f"every Ray pod must run the same image, found {images}"


def test_the_image_pins_the_same_ray_and_installs_srbench():
    dockerfile = (CLUSTER / "Dockerfile").read_text()
    version = re.search(r"ARG RAY_VERSION=([\d.]+)", dockerfile).group(1)
    assert ray_minor(version) == ray_minor(ray.__version__)
    assert "FROM rayproject/ray:${RAY_VERSION}" in dockerfile and "pip install" in dockerfile
    # torch pinned to a build whose CUDA the file matches to a stated driver version
    assert re.search(r"ARG TORCH_VERSION=\d+\.\d+\.\d+", dockerfile) and "torch==${TORCH_VERSION}" in dockerfile
    assert "driver >= 580" in dockerfile
    for copied in re.findall(r"^COPY \S+ (.+?) \S+$", dockerfile, flags=re.M):
        assert all((REPO / part).exists() for part in copied.split()), copied


def compose_services() -> dict:
    return yaml.safe_load((CLUSTER / "mlflow" / "docker-compose.yaml").read_text())["services"]


def test_mlflow_compose_stack_uses_a_database_and_an_artifact_store():
    compose = yaml.safe_load((CLUSTER / "mlflow" / "docker-compose.yaml").read_text())
    services = compose["services"]
    assert {"mlflow", "postgres", "minio", "minio-setup"} <= set(services)
    server = services["mlflow"]
    assert server["environment"]["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://")
    assert server["environment"]["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    assert "MLFLOW_SERVER_ALLOWED_HOSTS" in server["environment"]
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert (CLUSTER / "mlflow" / server["build"] / "Dockerfile").is_file()
    assert all("healthcheck" in services[name] for name in ("mlflow", "postgres", "minio"))
    assert set(compose["volumes"]) == {"postgres-data", "minio-data", "mlflow-auth"}
    # Every variable the stack reads has an entry in the example .env.
    text = (CLUSTER / "mlflow" / "docker-compose.yaml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    example = {
        line.split("=", 1)[0]
        for line in (CLUSTER / "mlflow" / "example.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert used and used <= example, used - example


def test_ray_templates_turn_on_token_authentication():
    config = yaml.safe_load((CLUSTER / "ray-cluster.yaml").read_text())
    starts = [c for c in config["head_start_ray_commands"] + config["worker_start_ray_commands"] if "ray start" in c]
    assert len(starts) == 2 and all(c.startswith("RAY_AUTH_MODE=token ray start") for c in starts), starts
    assert "/home/ray/.ray/auth_token" in config["file_mounts"]  # the token, on every node
    cluster, _ = kuberay_documents()
    assert cluster["spec"]["authOptions"]["mode"] == "token" and cluster["spec"]["authOptions"]["secretName"]


def test_no_ray_dashboard_on_every_interface():
    config = yaml.safe_load((CLUSTER / "ray-cluster.yaml").read_text())
    (head,) = [c for c in config["head_start_ray_commands"] if "ray start" in c]
    assert "--dashboard-host=127.0.0.1" in head
    cluster, _ = kuberay_documents()
    assert cluster["spec"]["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "127.0.0.1"
    for path in (CLUSTER / "ray-cluster.yaml", CLUSTER / "kuberay" / "raycluster.yaml"):
        assert not re.search(r"dashboard-host\W+0\.0\.0\.0", path.read_text()), path


def test_mlflow_is_never_published_without_authentication():
    services = compose_services()
    server = services["mlflow"]
    assert server["command"].split()[:4] == ["mlflow", "server", "--app-name", "basic-auth"]
    assert server["environment"]["MLFLOW_AUTH_CONFIG_PATH"] and "MLFLOW_AUTH_ADMIN_PASSWORD" in server["environment"]
    assert "mlflow[auth]" in (CLUSTER / "mlflow" / "Dockerfile").read_text()
    # Published on loopback unless the operator names an address; nothing else published at all.
    assert server["ports"] == ["${MLFLOW_BIND:-127.0.0.1}:5000:5000"]
    assert [name for name, service in services.items() if "ports" in service] == ["mlflow"]
    assert "--console-address 127.0.0.1:" in services["minio"]["command"]
    # MLflow stores artifacts as its own MinIO user, never as MinIO's root.
    assert "MINIO_ROOT" not in json.dumps(server["environment"])
    policy = json.loads((CLUSTER / "mlflow" / "minio-mlflow-policy.json").read_text())
    assert all(r.startswith("arn:aws:s3:::mlflow") for st in policy["Statement"] for r in st["Resource"])
    # No secret on a long-running command line: the database URI (with its password) is in the environment.
    for service in services.values():
        assert "PASSWORD" not in str(service.get("command", "")), service["command"]


def test_every_image_is_pinned_to_a_release():
    compose = [s["image"] for s in compose_services().values() if "image" in s]
    cluster, _ = kuberay_documents()
    pods = [c["image"] for pod in pod_specs(cluster) for c in pod["containers"]]
    froms = [
        line.split()[1]
        for path in (CLUSTER / "Dockerfile", CLUSTER / "mlflow" / "Dockerfile")
        for line in path.read_text().splitlines()
        if line.startswith("FROM ")
    ]
    launcher = [yaml.safe_load((CLUSTER / "ray-cluster.yaml").read_text())["docker"]["image"]]
    for image in compose + pods + froms + launcher:
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{image}: pin a release tag"


def readme_commands(path: Path) -> list[str]:
    """Every srbench invocation in the page's code blocks, continuation lines joined; for
    `ray job submit ... -- python -m srbench ...`, the part after `--`."""
    blocks = re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if "srbench " in line and ("python -m srbench" in line or line.startswith("srbench")):
                commands.append(line.split(" -- ", 1)[-1])
    return commands


@pytest.mark.parametrize("page", ["cluster/README.md", "README.md"])
def test_every_srbench_command_on_the_page_is_accepted(page):
    commands = readme_commands(REPO / page)
    assert len(commands) >= 5, commands
    for command in commands:
        command = re.sub(r"^\S+=\S+ ", "", command)  # leading VAR=value
        args = parse_srbench(command)
        if args.command == "sweep":  # a study file, or a shipped study by name
            assert (REPO / args.experiment).is_file() or (REPO / "experiments" / f"{args.experiment}.py").is_file(), (
                command
            )
