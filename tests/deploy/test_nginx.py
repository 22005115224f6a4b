"""deploy/nginx: `nginx -t` on the configs, then Debian's nginx in front of both live roles.

The configs are used as shipped; only what a deployment supplies is changed, the way a
generator would: the DEPOT-UPSTREAMS include (to a copy of upstreams-compose.conf pointing at
127.0.0.1 ports and a temporary static root) and each server's `listen` line. Without nginx
these tests are skipped and say why (`make test` as root installs it); under CI=true they fail.
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connections

from tests.helpers import Gunicorn, free_port, gunicorn_start, process_stop, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "nginx"
TOKEN = "scraper-token-for-the-nginx-test-0123456789"
EDD_GET_VERSION = "/?edd_action=get_version&item_name=Formwell&license=x&url=https://a.example"


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _nginx() -> str:
    # Debian's is in /usr/sbin, which a non-root PATH may lack.
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )
    if found is None:
        why = "no nginx binary (as root, `make test` installs Debian's: apt-get install nginx)"
        if _ci():
            pytest.fail(f"CI=true needs the nginx tests, but {why}", pytrace=False)
        pytest.skip(why)
    return found


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected {old!r} once in the shipped config"
    return text.replace(old, new)


def _generate(
    into: Path,
    *,
    web: int,
    updates: int,
    store_port: int,
    updates_port: int,
    static_root: Path,
    edits: dict[str, list[tuple[str, str]]] | None = None,
) -> Path:
    """Write a runnable copy of deploy/nginx into `into`, as a deployment's generator would."""
    into.mkdir(parents=True)
    temp = into / "temp"
    temp.mkdir()
    upstreams = (CONF / "upstreams-compose.conf").read_text()
    upstreams = _replace_once(upstreams, "server web:8000", f"server 127.0.0.1:{web}")
    upstreams = _replace_once(upstreams, "server updates:8001", f"server 127.0.0.1:{updates}")
    upstreams = _replace_once(upstreams, "default /srv/depot/static;", f"default {static_root};")
    # Buffers to disk in this directory, not Debian's /var/lib/nginx (root only).
    upstreams += "".join(
        f"{kind}_temp_path {temp / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (into / "upstreams-test.conf").write_text(upstreams)
    files = {
        "nginx.conf": [("include upstreams-compose.conf;", "include upstreams-test.conf;")],
        "depot-store.conf": [("listen 8080 ", f"listen 127.0.0.1:{store_port} ")],
        "depot-updates.conf": [("listen 8081;", f"listen 127.0.0.1:{updates_port};")],
    }
    for name, replacements in files.items():
        text = (CONF / name).read_text()
        for old, new in replacements + (edits or {}).get(name, []):
            text = _replace_once(text, old, new)
        (into / name).write_text(text)
    return into


def _command(nginx: str, conf_dir: Path, *flags: str, foreground: bool = False) -> list[str]:
    """Return nginx's command line: pid, error log and user are the starter's (nginx.conf)."""
    directives = f"pid {conf_dir / 'nginx.pid'};"
    # As root, workers would drop to `nobody`, who cannot enter pytest's private tmp dirs.
    if os.geteuid() == 0:
        directives += " user root;"
    if foreground:
        directives += " daemon off;"
    return [
        *(nginx, "-p", f"{conf_dir}/", "-c", str(conf_dir / "nginx.conf")),
        *("-e", str(conf_dir / "error.log"), "-g", directives),
        *flags,
    ]


def test_nginx_accepts_the_configs(tmp_path: Path):
    # Given the shipped configs with the compose upstream file pointed at this machine
    nginx = _nginx()
    conf_dir = _generate(
        tmp_path / "nginx",
        web=free_port(),
        updates=free_port(),
        store_port=free_port(),
        updates_port=free_port(),
        static_root=tmp_path / "static",
    )

    # When nginx checks them
    done = subprocess.run(
        _command(nginx, conf_dir, "-t"), capture_output=True, text=True, timeout=30
    )

    # Then they pass
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


@dataclass
class Edge:
    """The two roles under gunicorn and nginx in front; ports of each."""

    web: int
    updates: int
    store: int
    updates_host: int
    static_root: Path
    tmp: Path

    def get(self, port: int, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.get(
            f"http://127.0.0.1:{port}{path}", headers=headers, timeout=20, allow_redirects=False
        )


def _production_env(static_root: Path, media_root: Path) -> dict[str, str]:
    db = connections["default"].settings_dict
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "AWS_", "GUNICORN_"))
        and key != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        DJANGO_SECRET_KEY="nginx-test-secret-key-not-for-production-0123456789abcdefghijkl",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        # nginx here is reached over plain HTTP, as behind a balancer that ends TLS elsewhere.
        DJANGO_SECURE_SSL_REDIRECT="false",
        # The schema pytest-django made; the roles only read it.
        DATABASE_URL=(
            f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 3306}/{db['NAME']}"
        ),
        REDIS_URL=settings.CACHES["default"]["LOCATION"],
        DEPOT_STORAGE="filesystem",
        DJANGO_MEDIA_ROOT=str(media_root),
        DJANGO_STATIC_ROOT=str(static_root),
        CELERY_BROKER_URL="memory://",
        LICENSE_KEY_HMAC_SECRET="nginx-test-license-hmac-secret",
        LICENSE_KEY_ENCRYPTION_KEY="dGVzdC1vbmx5LWxpY2Vuc2UtZW5jcnlwdGlvbi1rZXk=",
        DEPOT_METRICS_TOKEN=TOKEN,
        DEPOT_TRUSTED_PROXIES="1",
        GUNICORN_WORKERS="1",
    )
    return env


@pytest.fixture(scope="module")
def roles(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, int, Path, Path]]:
    """Start the web and the updates role under gunicorn on production settings.

    They run on the test database's schema (the tests using this are marked django_db, so
    pytest-django creates it) and only read it.
    """
    _nginx()  # skip (or fail under CI) before starting anything
    if connections["default"].vendor != "mysql":
        pytest.skip("needs MariaDB: the roles run in processes of their own on its schema")
    tmp = tmp_path_factory.mktemp("edge")
    static_root = tmp / "static"
    env = _production_env(static_root, tmp / "media")
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings.production"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert collected.returncode == 0, collected.stderr[-3000:]
    servers: list[Gunicorn] = []
    try:
        for name, settings_module in (
            ("web", "config.settings.production"),
            ("updates", "config.settings.updates"),
        ):
            servers.append(
                gunicorn_start(
                    f"{name}.conf.py",
                    env={**env, "DJANGO_SETTINGS_MODULE": settings_module},
                    log=tmp / f"{name}.log",
                )
            )
        yield servers[0].port, servers[1].port, static_root, tmp
    finally:
        for server in servers:
            server.stop()


def _start_nginx(
    conf_dir: Path, started: list[subprocess.Popen[bytes]], ports: tuple[int, int]
) -> None:
    with (conf_dir / "stdout.log").open("wb") as log:
        process = subprocess.Popen(
            _command(_nginx(), conf_dir, foreground=True),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    started.append(process)
    for port in ports:
        try:
            wait_for_port(port, process, "nginx")
        except RuntimeError as error:
            raise RuntimeError(f"{error}: {(conf_dir / 'error.log').read_text()}") from None


@pytest.fixture(scope="module")
def edge(roles: tuple[int, int, Path, Path]) -> Iterator[Edge]:
    """Start nginx with the shipped configs in front of both roles; stopped at the end."""
    web, updates, static_root, tmp = roles
    store_port, updates_port = free_port(), free_port()
    conf_dir = _generate(
        tmp / "nginx",
        web=web,
        updates=updates,
        store_port=store_port,
        updates_port=updates_port,
        static_root=static_root,
    )
    started: list[subprocess.Popen[bytes]] = []
    try:
        _start_nginx(conf_dir, started, (store_port, updates_port))
        yield Edge(web, updates, store_port, updates_port, static_root, tmp)
    finally:
        for process in started:
            process_stop(process)


def _hashed(static_root: Path, name: str) -> str:
    import json

    manifest = json.loads((static_root / "staticfiles.json").read_text())
    return "/static/" + manifest["paths"][name]


@pytest.mark.real_services
@pytest.mark.django_db  # the schema the roles run on (created only for tests that ask)
def test_store_host_serves_hashed_static_files_from_disk_cached_for_a_year(edge: Edge):
    # Given collectstatic's hashed admin stylesheet
    url = _hashed(edge.static_root, "admin/css/base.css")

    # When a browser asks the store host for it, and for its unhashed name
    hashed = edge.get(edge.store, url, headers={"Accept-Encoding": "gzip"})
    plain = edge.get(edge.store, "/static/admin/css/base.css")

    # Then nginx answers from disk (its own header, not WhiteNoise's ten years), compressed
    assert hashed.status_code == 200
    assert hashed.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert hashed.headers["Content-Encoding"] == "gzip"
    assert "DJANGO Admin styles" in hashed.text
    assert hashed.headers["X-Request-ID"]
    # and a name that may change is cached for an hour only
    assert plain.status_code == 200
    assert plain.headers["Cache-Control"] == "max-age=3600"


@pytest.mark.real_services
@pytest.mark.django_db  # the schema the roles run on (created only for tests that ask)
def test_metrics_are_not_exposed_through_either_host(edge: Edge):
    # Given both roles serving /metrics to the scraper's token (Prometheus scrapes them directly)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert edge.get(edge.web, "/metrics", headers=bearer).status_code == 200
    assert edge.get(edge.updates, "/metrics", headers=bearer).status_code == 200

    # When anyone asks the public hosts, even with the token
    answers = [
        edge.get(port, "/metrics", headers=bearer) for port in (edge.store, edge.updates_host)
    ]

    # Then nginx refuses, and shows no metrics
    for answer in answers:
        assert answer.status_code == 404
        assert "django_http_requests" not in answer.text


@pytest.mark.real_services
@pytest.mark.django_db  # the schema the roles run on (created only for tests that ask)
def test_edd_root_reaches_the_updates_role_with_its_arguments(edge: Edge):
    # Given what the updates role answers itself at its root, with and without edd_action
    direct = edge.get(edge.updates, EDD_GET_VERSION).json()
    index = edge.get(edge.updates, "/").json()
    assert direct != index

    # When EDD's updater asks the updates host's root, by GET and by POST as it does
    got = edge.get(edge.updates_host, EDD_GET_VERSION)
    posted = requests.post(
        f"http://127.0.0.1:{edge.updates_host}/",
        data={"edd_action": "get_version", "item_name": "Formwell", "license": "x"},
        timeout=20,
        allow_redirects=False,
    )

    # Then Depot's EDD answer comes back (JSON, not nginx's page, not the service index):
    # this plugin is not sold here, which only the EDD endpoint can say
    for answer in (got, posted):
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("application/json")
        assert answer.json()["msg"] == "This server does not sell that plugin."
    assert got.json() == direct
    assert got.headers["X-Request-ID"]


@pytest.mark.real_services
@pytest.mark.django_db  # the schema the roles run on (created only for tests that ask)
def test_updates_host_limits_a_flood_at_the_edge_with_the_apps_json_429(edge: Edge):
    # Given the updates host's edge limit lowered to a burst of 2 (the shipped 15/s, burst 300
    # needs hundreds of requests to show)
    store_port, updates_port = free_port(), free_port()
    conf_dir = _generate(
        edge.tmp / "nginx-limited",
        web=edge.web,
        updates=edge.updates,
        store_port=store_port,
        updates_port=updates_port,
        static_root=edge.static_root,
        edits={
            "nginx.conf": [("rate=15r/s", "rate=1r/m")],
            "depot-updates.conf": [("burst=300", "burst=2")],
        },
    )
    started: list[subprocess.Popen[bytes]] = []
    try:
        _start_nginx(conf_dir, started, (store_port, updates_port))

        # When one address sends six checks at once, then the balancer probes
        answers = [edge.get(updates_port, "/updates/") for _ in range(6)]
        probe = edge.get(updates_port, "/healthz")
    finally:
        for process in started:
            process_stop(process)

    # Then the first three reach the app and the rest are refused at the edge, in the app's
    # JSON shape with a Retry-After; probes are never limited
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    for refused in answers[3:]:
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert refused.headers["Retry-After"] == "60"
    assert probe.status_code == 200
