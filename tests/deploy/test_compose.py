"""The compose stack as `docker-compose config` (Debian's docker-compose) reads it."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from tests.deploy.tools import DEPLOY, tool

COMPOSE = DEPLOY / "compose"
DEPOT_ROLES = ["web", "updates", "worker-pipeline", "worker-mail", "beat"]


@pytest.fixture(scope="module")
def config() -> dict:
    """The compose file resolved with .env.example, as docker-compose itself prints it."""
    binary = tool("docker-compose", install="`make test` installs Debian's docker-compose as root")
    result = subprocess.run(
        [binary, "--env-file", ".env.example", "-f", "compose.yaml", "config"],
        cwd=COMPOSE,
        env={**os.environ, "DEPOT_ENV_FILE": ".env.example"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_the_compose_file_parses_with_every_service_of_the_topology(config):
    assert set(config["services"]) >= {
        *DEPOT_ROLES,
        "migrate",
        "nginx",
        "mariadb-primary",
        "mariadb-replica",
        "proxysql",
        "redis",
        "rabbitmq",
        "minio",
        "minio-bucket",
        "prometheus",
        "grafana",
    }


def test_every_role_starts_only_after_migrate_has_succeeded(config):
    services = config["services"]
    for role in DEPOT_ROLES:
        assert services[role]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        ), role
        assert services[role]["command"] == [role], role
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"


def test_every_long_running_service_has_a_health_check_its_dependants_wait_for(config):
    services = config["services"]
    one_shots = {"migrate", "minio-bucket", "static"}
    for name, service in services.items():
        if name in one_shots or name == "beat":
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            wanted = (
                "service_completed_successfully" if dependency in one_shots else "service_healthy"
            )
            assert how["condition"] == wanted, f"{name} -> {dependency}"


def test_the_depot_containers_read_the_env_file_and_nginx_mounts_the_shared_configs(config):
    services = config["services"]
    for role in [*DEPOT_ROLES, "migrate"]:
        assert services[role]["environment"]["DATABASE_URL"].startswith("mysql://"), role
    # docker-compose 1.x prints bind mounts as "source:target:mode", 2.x as mappings.
    mounts = {}
    for volume in services["nginx"]["volumes"]:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        mounts[target] = source
    for name in ["nginx.conf", "depot-store.conf", "depot-updates.conf", "upstreams-compose.conf"]:
        assert mounts[f"/etc/nginx/{name}"] == str(DEPLOY / "nginx" / name)
        assert (DEPLOY / "nginx" / name).is_file(), name
