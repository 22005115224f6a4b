"""Health of the backing services: each check named, timed and independent.

Two questions, two answers. Readiness (`readiness`) asks only what this role cannot work
without, `DEPOT_READYZ_REQUIRE`: groups of check names, each group met when any one of its
checks passes (web: the database; updates: the database or a warm update cache). The detail
(`dependencies`) runs every check in `DEPOT_HEALTH_CHECKS` for dashboards, and its verdict is
the readiness one, so a dependency the role can live without never fails it.
"""

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
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    ms: float
    error: str = ""

    def as_dict(self) -> dict[str, object]:
        # Up or down only: the probes answer anyone, and an exception's text names hosts,
        # ports and users. The detail goes to the log (_run).
        return {"ok": self.ok}


@dataclass(frozen=True)
class Health:
    ready: bool
    results: list[CheckResult]
    require: list[list[str]]

    @property
    def down(self) -> list[str]:
        return [r.name for r in self.results if not r.ok]


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


def _checks() -> dict[str, Callable[[], None]]:
    # Dotted paths, so an app above core (apps.updates' warm cache) can name its own check.
    return {name: import_string(path) for name, path in settings.DEPOT_HEALTH_CHECKS.items()}


def _require() -> list[list[str]]:
    return [list(group) for group in settings.DEPOT_READYZ_REQUIRE]


def readiness() -> Health:
    """Run only what this role needs, stopping at the first check that meets each group."""
    checks = _checks()
    require = _require()
    results: list[CheckResult] = []
    ready = True
    for group in require:
        met = False
        for name in group:
            result = _run(name, checks[name])
            results.append(result)
            if result.ok:
                met = True
                break
        ready = ready and met
    return Health(ready=ready, results=results, require=require)


def dependencies() -> Health:
    """Run every check, for dashboards; the verdict is the readiness one."""
    require = _require()
    results = [_run(name, check) for name, check in _checks().items()]
    up = {r.name for r in results if r.ok}
    ready = all(up.intersection(group) for group in require)
    return Health(ready=ready, results=results, require=require)


def _run(name: str, check: Callable[[], None]) -> CheckResult:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}".strip()[:300]
        logger.warning("readyz: %s is down after %.0f ms: %s", name, _ms(started), error)
        return CheckResult(name, False, _ms(started), error)
    return CheckResult(name, True, _ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
