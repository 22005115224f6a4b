"""Send the reports' reads to the `replica` database alias, and nothing else's.

Django's routers see a model, never who is asking, so the report views say it themselves:
`report_reads()` marks the current context (a ContextVar: per thread and per asyncio task),
and while it is on, `ReportReadRouter.db_for_read` answers `replica` when DATABASES has one
(production.py adds it from DATABASE_REPLICA_URL). Everything else (the admin's session and
user lookups before the view runs, every write, every other page) keeps Django's default.

Why a flag and not `.using("replica")` in the selectors: the store's and the licenses'
selectors are shared with pages that must read their own writes from the primary; a flag set
by the one caller that tolerates replication lag keeps them free of a database argument. (The
updates app's install selectors already pick the alias themselves, `_report_database`; both
ways agree.) With ProxySQL the replica alias is the reader user (deploy/proxysql/README.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings

REPLICA = "replica"

_report_reads: ContextVar[bool] = ContextVar("depot_report_reads", default=False)


@contextmanager
def report_reads() -> Iterator[None]:
    """Route the reads made inside this block to the replica, when one is configured."""
    token = _report_reads.set(True)
    try:
        yield
    finally:
        _report_reads.reset(token)


class ReportReadRouter:
    """Reads inside `report_reads()` go to the replica; the rest is left to Django's default."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        if _report_reads.get() and REPLICA in settings.DATABASES:
            return REPLICA
        return None

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # The replica holds the same rows as the primary: an object read from one may point
        # at an object read from the other.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        # The replica gets its schema by replication, never from `migrate`.
        return False if db == REPLICA else None
