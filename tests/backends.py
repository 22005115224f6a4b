"""Find out which real backing services this host offers, for the test settings and `make test`.

Test-only: `config.settings.test` calls `choose_backend()` when it loads, in pytest and in the
worker, gunicorn and manage.py processes the suite starts (all run from the repository root,
so `tests` imports there). The image leaves `tests/` out, and runs no test settings.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    name: str
    host: str
    port: int

    def reachable(self, timeout: float = 0.5) -> str | None:
        """Return None when a TCP connection opens, else why not."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return None
        except OSError as exc:
            return f"{self.name} {self.host}:{self.port}: {exc.strerror or exc}"


def _host() -> str:
    return os.environ.get("DEPOT_SERVICES_HOST", "127.0.0.1")


def services() -> list[Service]:
    """The services the real test backend needs."""
    host = _host()
    return [
        Service("MariaDB", host, int(os.environ.get("DEPOT_MARIADB_PORT", "3306"))),
        Service("Redis", host, int(os.environ.get("DEPOT_REDIS_PORT", "6379"))),
        Service("RabbitMQ", host, int(os.environ.get("DEPOT_RABBITMQ_PORT", "5672"))),
    ]


def missing_services() -> list[str]:
    """Return why the real backends cannot be used; empty when they all can."""
    problems = [reason for s in services() if (reason := s.reachable()) is not None]
    if importlib.util.find_spec("MySQLdb") is None:
        problems.append(
            "mysqlclient is not installed (it needs libmariadb-dev and pkg-config to build)"
        )
    return problems


def choose_backend() -> tuple[str, list[str]]:
    """Pick "real" or "embedded" from DEPOT_TEST_SERVICES (auto|real|embedded) and CI."""
    wanted = os.environ.get("DEPOT_TEST_SERVICES", "auto")
    if wanted == "embedded":
        return "embedded", []
    problems = missing_services()
    ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    if problems and (ci or wanted == "real"):
        why = "CI=true" if ci else "DEPOT_TEST_SERVICES=real"
        raise RuntimeError(f"{why} requires the real services, but: " + "; ".join(problems))
    return ("embedded", problems) if problems else ("real", [])
