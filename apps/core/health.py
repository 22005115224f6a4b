"""Readiness checks of the backing services, each named, timed and independent."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    ms: float
    error: str = ""

    def as_dict(self) -> dict[str, object]:
        # Up or down only: /readyz answers anyone, and an exception's text names hosts, ports
        # and users. The detail goes to the log (run_checks).
        return {"ok": self.ok}


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("value written was not read back")
    cache.delete(key)


def check_storage() -> None:
    # exists() is one HEAD request on S3 and one stat() on disk: it proves the bucket
    # answers and the credentials work, without writing anything.
    default_storage.exists("readyz-probe")


def check_broker() -> None:
    from config.celery_app import app

    if app.conf.task_always_eager or app.conf.broker_url.startswith("memory://"):
        return  # tasks run in-process; there is no broker to reach
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "storage": check_storage,
    "broker": check_broker,
}


def run_checks(names: list[str] | None = None) -> list[CheckResult]:
    """Run the named checks (all by default) and report each one."""
    wanted = names or list(getattr(settings, "DEPOT_READYZ_CHECKS", CHECKS))
    results = []
    for name in wanted:
        started = time.perf_counter()
        try:
            CHECKS[name]()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}".strip()[:300]
            results.append(CheckResult(name, False, _ms(started), error))
            logger.warning("readyz: %s is down after %.0f ms: %s", name, _ms(started), error)
        else:
            results.append(CheckResult(name, True, _ms(started)))
    return results


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
