"""The multi-host deployment (DESIGN section 13): docker/compose.yaml read as data, no Docker needed.

web, worker (queue `default`), gpu-worker (queue `gpu`, one NVIDIA GPU reserved), beat, db (PostgreSQL
with pgvector) and redis. More GPU hosts scale out as more gpu-workers on the same broker.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker" / "compose.yaml"
APP_SERVICES = ("web", "worker", "gpu-worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    assert COMPOSE.is_file(), f"{COMPOSE.relative_to(ROOT)} is missing"
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), "compose file has no services"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def argv(service: dict[str, Any]) -> list[str]:
    """entrypoint + command as one token list; a `sh -c "..."` script is split into its words too."""
    tokens: list[str] = []
    for key in ("entrypoint", "command"):
        value = service.get(key)
        if value is None:
            continue
        parts = shlex.split(value) if isinstance(value, str) else [str(v) for v in value]
        for part in parts:
            tokens.extend(shlex.split(part) if " " in part else [part])
    return tokens


def queues(tokens: list[str]) -> set[str]:
    """The queues a `celery worker` command line consumes (-Q x, -Qx, --queues x, --queues=x)."""
    found: set[str] = set()
    for i, token in enumerate(tokens):
        value = None
        if token in ("-Q", "--queues") and i + 1 < len(tokens):
            value = tokens[i + 1]
        elif token.startswith("--queues="):
            value = token.split("=", 1)[1]
        elif token.startswith("-Q") and len(token) > 2:
            value = token[2:]
        if value:
            found |= {q.strip() for q in value.split(",") if q.strip()}
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    """`environment` as a mapping (dict or KEY=VALUE list), plus any env_file that exists."""
    env: dict[str, str] = {}
    files = service.get("env_file") or []
    for entry in [files] if isinstance(files, str | dict) else files:
        path = COMPOSE.parent / (entry["path"] if isinstance(entry, dict) else entry)
        if path.is_file():
            for line in path.read_text().splitlines():
                if "=" in line and not line.lstrip().startswith("#"):
                    key, value = line.split("=", 1)
                    env[key.strip()] = value.strip()
    raw = service.get("environment") or {}
    if isinstance(raw, dict):
        env.update({str(k): "" if v is None else str(v) for k, v in raw.items()})
    else:
        for item in raw:
            key, _, value = str(item).partition("=")
            env[key] = value
    return env


def depends_on(service: dict[str, Any]) -> set[str]:
    value = service.get("depends_on") or []
    return set(value)  # a list of names or a mapping name -> condition: both iterate over names


def gpu_devices(service: dict[str, Any]) -> list[dict[str, Any]]:
    devices = (((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get(
        "devices"
    )
    return list(devices or [])


def test_every_service_of_the_deployment_is_defined(services: dict[str, Any]) -> None:
    assert {"web", "worker", "gpu-worker", "beat", "db", "redis"} <= set(services)


def test_web_runs_the_django_application(services: dict[str, Any]) -> None:
    tokens = argv(services["web"])
    assert "gunicorn" in tokens or any(t.endswith("manage.py") for t in tokens), tokens


def test_the_worker_consumes_only_the_default_queue(services: dict[str, Any]) -> None:
    tokens = argv(services["worker"])
    assert "celery" in tokens and "worker" in tokens, tokens
    assert queues(tokens) == {"default"}


def test_the_gpu_worker_consumes_only_the_gpu_queue(services: dict[str, Any]) -> None:
    tokens = argv(services["gpu-worker"])
    assert "celery" in tokens and "worker" in tokens, tokens
    assert queues(tokens) == {"gpu"}


def test_beat_runs_celery_beat_on_its_own(services: dict[str, Any]) -> None:
    tokens = argv(services["beat"])
    assert "celery" in tokens and "beat" in tokens, tokens
    assert "worker" not in tokens


@pytest.mark.parametrize("name", ["worker", "gpu-worker"])
def test_workers_do_not_embed_beat(services: dict[str, Any], name: str) -> None:
    # Scaling out workers that each ran beat would send every periodic task once per worker.
    tokens = argv(services[name])
    assert "-B" not in tokens and "--beat" not in tokens, tokens


def test_the_gpu_worker_reserves_an_nvidia_gpu(services: dict[str, Any]) -> None:
    devices = gpu_devices(services["gpu-worker"])
    assert any(d.get("driver") == "nvidia" and "gpu" in (d.get("capabilities") or []) for d in devices), (
        devices
    )


def test_the_default_worker_reserves_no_gpu(services: dict[str, Any]) -> None:
    assert gpu_devices(services["worker"]) == []


def test_db_is_postgres_with_pgvector(services: dict[str, Any]) -> None:
    assert "pgvector" in str(services["db"].get("image", "")), services["db"]


def test_redis_runs_redis(services: dict[str, Any]) -> None:
    assert "redis" in str(services["redis"].get("image", "")), services["redis"]


@pytest.mark.parametrize("name", ["web", "worker"])
def test_the_web_and_the_worker_depend_on_db_and_redis(services: dict[str, Any], name: str) -> None:
    assert {"db", "redis"} <= depends_on(services[name])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_each_application_service_gets_the_database_and_broker_urls(
    services: dict[str, Any], name: str
) -> None:
    # Without them the settings would start an embedded PostgreSQL and Redis inside each container.
    env = environment(services[name])
    assert env.get("DATABASE_URL"), f"{name} has no DATABASE_URL"
    assert env.get("REDIS_URL"), f"{name} has no REDIS_URL"


@pytest.mark.parametrize(
    ("name", "variable", "host"),
    [
        (name, variable, host)
        for name in ("web", "worker")
        for variable, host in (("DATABASE_URL", "db"), ("REDIS_URL", "redis"))
    ],
)
def test_the_urls_point_at_the_compose_services(
    services: dict[str, Any], name: str, variable: str, host: str
) -> None:
    value = environment(services[name]).get(variable, "")
    if value.startswith("${") and value.endswith("}"):
        pytest.skip(f"{variable} is taken whole from the host environment")
    # The host sits after the last '@' (credentials may hold interpolations) and before ':' or '/'.
    netloc = value.split("://", 1)[-1].split("/", 1)[0].rpartition("@")[2]
    assert netloc.split(":")[0] == host, value


def test_every_build_points_at_a_dockerfile_that_exists(services: dict[str, Any]) -> None:
    built = {name: svc["build"] for name, svc in services.items() if "build" in svc}
    assert built.keys() | {n for n, s in services.items() if "image" in s} >= set(APP_SERVICES)
    for name, build in built.items():
        spec = {"context": build} if isinstance(build, str) else build
        context = (COMPOSE.parent / spec.get("context", ".")).resolve()
        dockerfile = context / spec.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"


def test_the_dockerfile_exists() -> None:
    dockerfile = ROOT / "docker" / "Dockerfile"
    assert dockerfile.is_file()
    assert any(line.strip().upper().startswith("FROM ") for line in dockerfile.read_text().splitlines())


def _has_docker_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _has_docker_compose(), reason="the docker compose plugin is not installed here")
def test_docker_compose_accepts_the_file() -> None:
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
