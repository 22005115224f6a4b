"""Fixtures that put the suite on the real services when this host has them.

config.settings.test picks the backend (real or embedded). On the real one, a session
fixture starts moto in server mode as the S3 endpoint and points django-storages at it, the
Redis test database is flushed, and `celery_worker` starts a real worker process on RabbitMQ.
The shop's fixtures every test may ask for (`product`, `publish`, `release`, `issue`,
`issued`) wrap tests/builders.py; a module needing another product overrides `product`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.test.utils import override_settings

from tests.builders import SITE, Issued, license_make, product_listed, release_make
from tests.helpers import free_port, process_stop, wait_for_port

if TYPE_CHECKING:
    from apps.licenses.models import Product
    from apps.updates.models import Release

ROOT = Path(__file__).resolve().parent.parent
REAL = getattr(settings, "DEPOT_TEST_BACKEND", "") == "real"


def _backend_line() -> str:
    if not REAL:
        problems = (
            "; ".join(getattr(settings, "DEPOT_TEST_BACKEND_PROBLEMS", []))
            or "DEPOT_TEST_SERVICES=embedded"
        )
        return (
            f"depot: real services unreachable ({problems}): running on the embedded default "
            "(SQLite, local-memory cache, local files, in-process tasks)"
        )
    import MySQLdb
    import redis
    from kombu import Connection

    db = settings.DATABASES["default"]
    conn = MySQLdb.connect(
        host=db["HOST"], port=int(db["PORT"] or 3306), user=db["USER"], passwd=db["PASSWORD"]
    )
    try:
        cur = conn.cursor()
        cur.execute("SELECT VERSION()")
        mariadb = cur.fetchone()[0]
    finally:
        conn.close()
    redis_url = settings.CACHES["default"]["LOCATION"]
    redis_version = redis.Redis.from_url(redis_url).info("server")["redis_version"]
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as broker:
        broker.ensure_connection(max_retries=1)
        rabbit = broker.connection.server_properties.get("version", b"?")
    rabbit = rabbit.decode() if isinstance(rabbit, bytes) else rabbit
    return (
        f"depot: real services: MariaDB {mariadb} at {db['HOST']}:{db['PORT']}; "
        f"Redis {redis_version} at {redis_url}; RabbitMQ {rabbit} at "
        f"{settings.CELERY_BROKER_URL.split('@')[-1]}; S3 from moto server mode (line below)"
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [_backend_line()]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if REAL:
        return
    skip = pytest.mark.skip(reason="needs the real services (embedded default in use)")
    for item in items:
        if "real_services" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def s3_endpoint(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Start moto in server mode and create this run's bucket; yield endpoint and bucket."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, "moto server")
        endpoint = f"http://127.0.0.1:{port}"
        bucket = f"depot-test-{uuid.uuid4().hex[:8]}"
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "depot-test",
                "AWS_SECRET_ACCESS_KEY": "depot-test-secret",
                "AWS_DEFAULT_REGION": "us-east-1",
                "DEPOT_TEST_S3_ENDPOINT": endpoint,
                "DEPOT_TEST_S3_BUCKET": bucket,
            }
        )
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket=bucket
        )
        capture = request.config.pluginmanager.getplugin("capturemanager")
        assert capture is not None
        with capture.global_and_fixture_disabled():
            print(f"\ndepot: S3 endpoint {endpoint} (moto server mode), bucket {bucket}")
        yield {"endpoint": endpoint, "bucket": bucket}
    finally:
        process_stop(process)


@pytest.fixture(scope="session", autouse=True)
def real_backends(request: pytest.FixtureRequest) -> Iterator[None]:
    """Real backend: S3 on moto for the whole run, a clean Redis database. Embedded: tidy files."""
    if not REAL:
        yield
        shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)  # this run's files only
        return
    s3 = request.getfixturevalue("s3_endpoint")
    from django.core.cache import cache

    cache.clear()  # this run's Redis database number, see config.settings.test
    from config.settings.base import s3_storage

    storages = {
        **settings.STORAGES,
        "default": s3_storage(bucket=s3["bucket"], endpoint_url=s3["endpoint"], region="us-east-1"),
    }
    with override_settings(STORAGES=storages):
        yield


@pytest.fixture(autouse=True)
def fresh_hot_cache() -> Iterator[None]:
    """Each test starts with an empty cache: slugs repeat across tests, ids do not.

    A test without transactions never runs the after-commit hooks that drop cached update
    state (the product directory, metadata), so what an earlier test cached must go here.
    """
    from django.core.cache import cache

    from apps.updates.delivery import hotcache
    from apps.updates.stats.installs import expiring_forget

    cache.clear()
    hotcache.store_reset()
    expiring_forget()
    yield
    hotcache.store_reset()


@dataclass(frozen=True)
class Worker:
    process: subprocess.Popen[bytes]
    logfile: Path

    def log(self) -> str:
        return self.logfile.read_text()


def _worker_start(
    *,
    queue: str,
    logfile: Path,
    db_name: str,
    env: dict[str, str],
    pool: tuple[str, ...] = ("--pool", "solo"),
) -> Worker:
    """Start one worker process consuming `queue`; return once it says it is ready."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            # Mail has a queue of its own (config/settings/test.py names it after this one).
            f"{queue},{queue}-mail",
            *pool,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "info",
            "--logfile",
            str(logfile),
            "-n",
            f"test-{uuid.uuid4().hex[:6]}@%h",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DEPOT_TEST_SERVICES": "real",
            "DEPOT_TEST_DB_NAME": db_name,
            "CELERY_DEFAULT_QUEUE": queue,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            **env,
        },
    )
    deadline = time.monotonic() + 60
    while not (logfile.exists() and " ready." in logfile.read_text()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = logfile.read_text() if logfile.exists() else ""
            raise RuntimeError(f"celery worker did not start:\n{log}")
        time.sleep(0.2)
    return Worker(process=process, logfile=logfile)


def _worker_stop(worker: Worker) -> None:
    # A warm shutdown takes ~10 s (broker connection teardown); whatever the worker still
    # holds goes back to the queue, which the fixture purges anyway.
    process_stop(worker.process, grace=2)


class Workers:
    """Start, kill and restart real worker processes within one test (see `celery_workers`)."""

    def __init__(self, *, queue: str, db_name: str, tmp_path: Path) -> None:
        self.queue = queue
        self.db_name = db_name
        self.tmp_path = tmp_path
        self.started: list[Worker] = []

    def start(self, *pool: str, **env: str) -> Worker:
        """Start a worker: `--pool solo`, or `pool` ("--pool", "prefork", "--concurrency", "1")."""
        logfile = self.tmp_path / f"worker-{len(self.started) + 1}.log"
        worker = _worker_start(
            queue=self.queue,
            logfile=logfile,
            db_name=self.db_name,
            env=env,
            pool=pool or ("--pool", "solo"),
        )
        self.started.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(worker.log() for worker in self.started if worker.logfile.exists())

    def stop_all(self) -> None:
        for worker in self.started:
            _worker_stop(worker)


@pytest.fixture
def celery_workers(transactional_db: None, tmp_path: Path) -> Iterator[Workers]:
    """Send tasks to RabbitMQ (not in-process) and let the test start real workers itself.

    Until the test starts one, enqueued tasks wait in the broker: that is how a test shows
    what happens before any task runs.
    """
    if not REAL:
        pytest.skip("needs RabbitMQ and MariaDB")
    from django.db import connection

    from config.celery_app import app

    workers = Workers(
        queue=settings.CELERY_TASK_DEFAULT_QUEUE,
        db_name=connection.settings_dict["NAME"],
        tmp_path=tmp_path,
    )
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield workers
    finally:
        app.conf.task_always_eager = eager
        workers.stop_all()
        # Purged, not deleted: this process's producer remembers it declared the queue and
        # would not declare it again, so a later test's tasks would vanish.
        # A test whose workers all used a private broker never declared it here.
        with app.connection_for_write() as conn, contextlib.suppress(*conn.channel_errors):
            for queue in (workers.queue, f"{workers.queue}-mail"):
                conn.default_channel.queue_purge(queue)  # type: ignore[attr-defined]


@pytest.fixture
def celery_worker(celery_workers: Workers) -> Worker:
    """Run a real Celery worker process on RabbitMQ against the test database.

    Tasks enqueued while this fixture is active go to the broker (not run in-process); the
    worker sees rows the test has committed (hence `transactional_db`).
    """
    return celery_workers.start()


# --- the shop, from tests/builders.py --------------------------------------------------------


@pytest.fixture
def product(db: None) -> Product:
    """Formwell, listed as update clients show it (homepage, author, banners, icons)."""
    return product_listed()


@pytest.fixture
def publish(product: Product) -> Callable[..., Release]:
    """Publish a version of `product` (see `release_make` for the readme it gets)."""

    def make(version: str, **fields: Any) -> Release:
        return release_make(product, version, **fields)

    return make


@pytest.fixture
def release(publish: Callable[..., Release]) -> Release:
    return publish("2.4.1")


@pytest.fixture
def issue(product: Product) -> Callable[..., Issued]:
    """Issue a key for `product`: 3 sites, a year, active on SITE unless told otherwise."""

    def make(*, sites: int = 3, days: int | None = 365, activate: str | None = SITE) -> Issued:
        return license_make(product, sites=sites, days=days, activate=activate)

    return make


@pytest.fixture
def issued(issue: Callable[..., Issued]) -> Issued:
    return issue()
