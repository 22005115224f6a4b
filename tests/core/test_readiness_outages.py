"""Each dependency down in turn under both roles, run as real gunicorn processes.

The web role (config.settings.production) and the updates role (config.settings.updates) run
against private services of this module: a MariaDB (tests.services_mariadb), a Redis
(tests.services_redis), a moto S3 server (tests.services_s3), and RabbitMQ reached through a
TCP relay of this module, so "the broker is down" is a closed port while the shared node
keeps running. Each outage is real (the server stopped, the port closed) and undone before
the next test. What must hold, as the README's "Health and metrics" says:

- web: /readyz is 200 unless the database is down; updates: 200 while the database or a warm
  update cache is there. /readyz/detail names what is down and has the same verdict.
- web with the database down: 503 + Retry-After (a page for people, JSON for the Stripe
  webhook), nothing written; back up, the next request succeeds on a persistent connection,
  and the webhook Stripe retries is applied once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import free_port, gunicorn_start, process_stop
from tests.relay import Relay
from tests.services_mariadb import PrivateMariaDB, private_mariadb  # noqa: F401
from tests.services_redis import PrivateRedis
from tests.services_s3 import ACCESS_KEY, SECRET_KEY, PrivateS3

pytestmark = pytest.mark.real_services

ROOT = Path(__file__).resolve().parents[2]
BROKER = ("127.0.0.1", 5672)
WEBHOOK_SECRET = "whsec_readiness_outages_only"
ORDER_NUMBER = "D-OUTAGE01"
METRICS_TOKEN = "readiness-outages-metrics-token"
UA = "WordPress/6.7.1; https://site.example.com/"


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(self.url + path, timeout=15, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, **kwargs: object) -> requests.Response:
        return requests.post(self.url + path, timeout=15, **kwargs)  # type: ignore[arg-type]

    def stop(self) -> None:
        process_stop(self.process, grace=15)


@dataclass
class Stack:
    db: PrivateMariaDB
    redis: PrivateRedis
    s3: PrivateS3
    broker: Relay
    queue: str
    web: Server
    updates: Server


def _env(
    db: PrivateMariaDB, redis: PrivateRedis, s3: PrivateS3, relay: Relay, queue: str
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "AWS_", "DEPOT_", "PROMETHEUS_")
        )
    }
    env.update(
        DJANGO_SECRET_KEY="readiness-outages-only-secret-key-0123456789abcdefghijklmnopqrs",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_LOG_LEVEL="WARNING",
        DATABASE_URL=db.url("depot"),
        DATABASE_CONN_MAX_AGE="60",
        DATABASE_CONNECT_TIMEOUT="2",
        REDIS_URL=redis.url,
        AWS_STORAGE_BUCKET_NAME=s3.bucket,
        AWS_S3_ENDPOINT_URL=s3.endpoint,
        AWS_S3_REGION_NAME="us-east-1",
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        CELERY_BROKER_URL=f"amqp://guest:guest@127.0.0.1:{relay.port}//",
        CELERY_DEFAULT_QUEUE=queue,
        LICENSE_KEY_HMAC_SECRET="readiness-outages-only-hmac-secret",
        LICENSE_KEY_ENCRYPTION_KEY="YmVuY2gtb25seS1saWNlbnNlLWVuY3J5cHRpb24ta2U=",
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        DEPOT_METRICS_TOKEN=METRICS_TOKEN,
        DEPOT_STORE_BASE_URL="http://127.0.0.1",
        # A cache breaker (if any) forgives Redis quickly once it is back.
        DEPOT_CACHE_BREAKER_SECONDS="1",
    )
    return env


SEED = f"""
import django
django.setup()
from apps.licenses.services import product_upsert
from apps.store.services import LineRequest, order_create, tier_upsert
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
from apps.updates.services import release_publish

product = product_upsert(slug="formwell", name="Formwell", description="Forms that work.")
tier = tier_upsert(product=product, name="Personal", sites_allowed=1, term="year", amount=4900)
spec = PluginSpec(slug="formwell", name="Formwell", version="2.4.1", description="x")
release_publish(product=product, version="2.4.1", zip_content=plugin_zip_build(spec),
                requires_wp="6.0", requires_php="7.4", tested_up_to="6.7")
order = order_create(email="buyer@example.com", lines=[LineRequest(tier=tier)],
                     number="{ORDER_NUMBER}")
order.gateway, order.gateway_reference = "stripe", "cs_test_outage"
order.save(update_fields=["gateway", "gateway_reference"])
"""


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def _serve(name: str, conf: str, settings: str, env: dict[str, str], logdir: Path) -> Server:
    log = logdir / f"{name}.log"
    gunicorn = gunicorn_start(
        conf,
        # One worker, one thread: every request on the same persistent connection.
        env={**env, "DJANGO_SETTINGS_MODULE": settings, "GUNICORN_THREADS": "1"},
        log=log,
    )
    process = gunicorn.process
    server = Server(name, gunicorn.port, process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {log.read_text()[-3000:]}")
        try:
            if server.get("/healthz").status_code == 200:
                return server
        except requests.RequestException:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{name} did not answer /healthz within 30 s: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def stack(
    private_mariadb: PrivateMariaDB,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("readiness")
    started = time.monotonic()
    redis = PrivateRedis(base)
    s3 = PrivateS3(
        port=free_port(), bucket=f"depot-ready-{uuid.uuid4().hex[:8]}", logfile=base / "moto.log"
    )
    relay = Relay(BROKER)
    queue = f"depot-readiness-{uuid.uuid4().hex[:8]}"
    servers: list[Server] = []
    try:
        redis.start()
        s3.start()
        relay.open()
        private_mariadb.sql(
            "CREATE DATABASE depot CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        env = _env(private_mariadb, redis, s3, relay, queue)
        web_env = {**env, "DJANGO_SETTINGS_MODULE": "config.settings.production"}
        _run([sys.executable, "manage.py", "migrate", "-v0"], web_env)
        _run([sys.executable, "-c", SEED], web_env)
        # The web role as deployed with several workers: /metrics from PROMETHEUS_MULTIPROC_DIR.
        web_serve_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(base / "prometheus")}
        web = _serve("web", "web.conf.py", "config.settings.production", web_serve_env, base)
        servers.append(web)
        updates = _serve("updates", "updates.conf.py", "config.settings.updates", env, base)
        servers.append(updates)
        print(f"\nreadiness stack up in {time.monotonic() - started:.1f} s")
        yield Stack(private_mariadb, redis, s3, relay, queue, web, updates)
    finally:
        for server in servers:
            server.stop()
        relay.close()
        s3.stop()
        redis.kill()
        _queue_delete(queue)


def _queue_delete(queue: str) -> None:
    # Events the web role enqueued went to this module's own queue on the shared broker.
    from kombu import Connection

    try:
        with Connection(f"amqp://guest:guest@{BROKER[0]}:{BROKER[1]}//", connect_timeout=2) as c:
            c.default_channel.queue_delete(queue)  # type: ignore[attr-defined]
    except Exception:  # noqa: S110 (nothing was declared: nothing to delete)
        pass


def _probe(server: Server) -> tuple[int, int, dict[str, Any]]:
    """Return (/readyz status, /readyz/detail status, the detail's body)."""
    started = time.perf_counter()
    ready = server.get("/readyz").status_code
    ready_ms = (time.perf_counter() - started) * 1000
    detail = server.get("/readyz/detail")
    print(f"  {server.name}: /readyz {ready} in {ready_ms:.0f} ms, detail {detail.json()}")
    return ready, detail.status_code, detail.json()


def _down(body: dict[str, Any]) -> set[str]:
    return set(body.get("down", []))


def _puc(server: Server) -> requests.Response:
    return server.get(
        "/updates/puc/formwell/", params={"installed_version": "2.0.0"}, headers={"User-Agent": UA}
    )


def test_each_dependency_down_in_turn_keeps_each_role_ready_exactly_as_documented(
    stack: Stack,
) -> None:
    web, upd = stack.web, stack.updates
    # Given: everything up, and an update check has warmed the update cache
    assert _puc(upd).status_code == 200
    assert _probe(web) == (
        200,
        200,
        {
            "status": "ok",
            "checks": {
                "database": {"ok": True, "required": True},
                "cache": {"ok": True, "required": False},
                "storage": {"ok": True, "required": False},
                "broker": {"ok": True, "required": False},
            },
            "require": [["database"]],
        },
    )
    ready, detail, body = _probe(upd)
    assert (ready, detail, _down(body)) == (200, 200, set())
    assert set(body["checks"]) == {"database", "update_cache", "cache", "storage"}
    assert body["require"] == [["database", "update_cache"]]

    # When the broker's port closes: both stay ready; the web role's detail names it
    stack.broker.close()
    try:
        ready, detail, body = _probe(web)
        assert (ready, detail, _down(body)) == (200, 200, {"broker"})
        ready, detail, body = _probe(upd)
        assert (ready, detail, _down(body)) == (200, 200, set())
    finally:
        stack.broker.open()

    # When S3 (the moto server) is stopped: both stay ready; the detail names the storage
    stack.s3.stop()
    try:
        for server in (web, upd):
            ready, detail, body = _probe(server)
            assert (ready, detail, _down(body)) == (200, 200, {"storage"})
    finally:
        stack.s3.start()

    # When MariaDB is stopped: the web role is not ready; the updates role answers from its
    # warm cache, so it stays ready, and an update check is still answered
    stack.db.stop()
    try:
        ready, detail, body = _probe(web)
        assert (ready, detail, _down(body)) == (503, 503, {"database"})
        assert body["status"] == "unavailable"
        ready, detail, body = _probe(upd)
        assert (ready, detail, _down(body)) == (200, 200, {"database"})
        assert _puc(upd).status_code == 200

        # And when the cache also goes cold (its product directory is gone), it is not
        stack.redis.cli("DEL", "depot:upd:products")
        ready, detail, body = _probe(upd)
        assert (ready, detail, _down(body)) == (503, 503, {"database", "update_cache"})
    finally:
        stack.db.start()

    # When Redis is stopped: both stay ready on the database; the detail names the cache
    stack.redis.stop()
    try:
        ready, detail, body = _probe(web)
        assert (ready, detail, _down(body)) == (200, 200, {"cache"})
        ready, detail, body = _probe(upd)
        assert (ready, detail, _down(body)) == (200, 200, {"cache", "update_cache"})
    finally:
        stack.redis.start()


def _signed(event: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    timestamp = int(time.time())
    signature = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return body, {
        "Stripe-Signature": f"t={timestamp},v1={signature}",
        "Content-Type": "application/json",
    }


def _session_completed() -> dict[str, object]:
    return {
        "id": f"evt_outage_{uuid.uuid4().hex[:8]}",
        "object": "event",
        "created": int(time.time()),
        "livemode": False,
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": "cs_test_outage",
                "object": "checkout.session",
                "mode": "payment",
                "status": "complete",
                "client_reference_id": ORDER_NUMBER,
                "metadata": {"order_number": ORDER_NUMBER},
                "payment_intent": "pi_test_outage",
                "payment_status": "paid",
                "amount_total": 4900,
                "currency": "usd",
            }
        },
    }


def _order(db: PrivateMariaDB) -> tuple[str, bool]:
    [(status, paid_at)] = db.sql(
        f"SELECT status, paid_at FROM store_order WHERE number = '{ORDER_NUMBER}'",  # noqa: S608
        "depot",
    )
    return str(status), paid_at is not None


def _stripe_events(db: PrivateMariaDB) -> int:
    [(count,)] = db.sql("SELECT COUNT(*) FROM store_stripeevent", "depot")
    return int(str(count))


def test_the_web_role_answers_503_while_mariadb_is_stopped_and_recovers_on_the_next_request(
    stack: Stack,
) -> None:
    web, db = stack.web, stack.db
    # Given: the web role serving on a persistent connection, an order waiting for Stripe
    assert web.get("/", headers={"Accept": "text/html"}).status_code == 200
    assert _order(db) == ("pending", False)
    events_before = _stripe_events(db)
    event = _session_completed()

    # When MariaDB is stopped
    db.stop()
    try:
        started = time.perf_counter()
        page = web.get("/", headers={"Accept": "text/html"})
        print(f"\n503 page with MariaDB stopped in {(time.perf_counter() - started) * 1000:.0f} ms")
        body, headers = _signed(event)
        hook = web.post("/store/webhooks/stripe/", data=body, headers=headers)
        metrics = web.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    finally:
        started = time.monotonic()
        db.start()
        print(f"\nMariaDB back in {time.monotonic() - started:.1f} s")

    # Then a customer gets a page saying to come back, with Retry-After
    assert page.status_code == 503
    assert int(page.headers["Retry-After"]) > 0
    assert page.headers["Content-Type"].startswith("text/html")
    assert "right back" in page.text and "try again" in page.text
    assert "Traceback" not in page.text and "OperationalError" not in page.text
    # And Stripe gets a 5xx (so it retries) in JSON, and nothing was written
    assert hook.status_code == 503
    assert int(hook.headers["Retry-After"]) > 0
    assert hook.json()["code"] == "temporarily_unavailable"
    assert _stripe_events(db) == events_before
    assert _order(db) == ("pending", False)
    # And /metrics still answers, without the outbox gauges it could not compute
    assert metrics.status_code == 200
    assert "django_http_requests" in metrics.text
    assert "depot_outbox_undelivered" not in metrics.text

    # When the database is back: the very next request succeeds
    connections = db.status("Connections")
    started = time.perf_counter()
    first = web.get("/", headers={"Accept": "text/html"})
    print(f"first page after MariaDB is back in {(time.perf_counter() - started) * 1000:.0f} ms")
    second = web.get("/", headers={"Accept": "text/html"})
    # Logins since `connections`: the web role's one reconnection, plus this status query's
    logins = db.status("Connections") - connections - 1
    assert first.status_code == 200, first.text[:500]
    assert second.status_code == 200
    # Then both requests ran on one connection: CONN_MAX_AGE keeps it (0 would log in twice)
    assert logins == 1

    # When Stripe retries the event, and retries again
    body, headers = _signed(event)
    applied = web.post("/store/webhooks/stripe/", data=body, headers=headers)
    body, headers = _signed(event)
    again = web.post("/store/webhooks/stripe/", data=body, headers=headers)

    # Then it is applied once
    assert applied.status_code == 200, applied.text
    assert applied.json() == {"received": True, "outcome": "paid"}
    assert again.json() == {"received": True, "duplicate": True}
    assert _stripe_events(db) == events_before + 1
    assert _order(db) == ("paid", True)
    # And the events it published wait in the outbox (no worker here): the gauges say so
    [(undelivered,)] = db.sql(
        "SELECT COUNT(*) FROM core_outboxevent WHERE dispatched_at IS NULL", "depot"
    )
    metrics = web.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert int(str(undelivered)) >= 1
    assert f"depot_outbox_undelivered {float(str(undelivered))}" in metrics.text
    assert "depot_outbox_oldest_undelivered_age_seconds " in metrics.text
