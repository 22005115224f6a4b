"""Small helpers shared by tests (and their private services): waiting, ports, processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
CONFS = ROOT / "deploy" / "gunicorn"  # one gunicorn config per role


def wait_until(predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], what: str, timeout: float = 30
) -> None:
    """Return once `port` takes connections; raise if `process` exits or `timeout` s pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:g} s")


def process_stop(
    process: subprocess.Popen[bytes] | None, *, grace: float = 10, kill: bool = False
) -> None:
    """Stop `process` and reap it: SIGTERM (SIGKILL at once with `kill`), SIGKILL after `grace` s.

    A process that already exited is only reaped, so teardown may call this unconditionally.
    """
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass
class Gunicorn:
    """A gunicorn started by `gunicorn_start`; `stop()` it in the test's teardown."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, grace: float = 20) -> None:
        process_stop(self.process, grace=grace)


def gunicorn_start(
    conf: str, *, env: Mapping[str, str], log: Path, port: int | None = None
) -> Gunicorn:
    """Run gunicorn with deploy/gunicorn/`conf` (one worker unless `env` says otherwise).

    `env` is the whole environment (the settings module, the role's variables); the bind
    address is added here. Returns once the port takes connections; output goes to `log`.
    """
    port = port or free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "-c", str(CONFS / conf)],
            cwd=ROOT,
            env={"GUNICORN_WORKERS": "1", **env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Gunicorn(port=port, process=process, log=log)
    try:
        wait_for_port(port, process, f"gunicorn ({conf})")
    except RuntimeError as error:
        server.stop()
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{error}:\n{tail}") from None
    return server


# The ports a `make stack` listens on (deploy/stack/stack.env names each DEPOT_STACK_<X>_PORT).
STACK_PORTS = ("STORE", "UPDATES", "WEB", "UPDATES_ROLE", "S3", "SMTP")


def stack_env(name: str) -> dict[str, str]:
    """The environment of a stack of a test's own on the test run's services.

    Free ports, database and RabbitMQ vhost `name` (never a running stack's: its workers would
    take this stack's tasks), the test run's own Redis db; a minimal environment otherwise.
    """
    from urllib.parse import urlsplit

    from django.conf import settings

    db = settings.DATABASES["default"]
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}"
    redis = urlsplit(settings.CACHES["default"]["LOCATION"])
    broker = urlsplit(settings.CELERY_BROKER_URL)
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "CI")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    env.update({f"DEPOT_STACK_{port}_PORT": str(free_port()) for port in STACK_PORTS})
    env.update(
        DEPOT_STACK_MARIADB_URL=f"mysql://{db['USER']}:{db['PASSWORD']}@{host}",
        DEPOT_STACK_DATABASE=name,
        DEPOT_STACK_REDIS_URL=f"redis://{redis.hostname}:{redis.port or 6379}",
        DEPOT_STACK_REDIS_DB=redis.path.strip("/") or "0",
        DEPOT_STACK_RABBITMQ_URL=f"{broker.scheme}://{broker.netloc}",
        DEPOT_STACK_VHOST=name,
    )
    return env
