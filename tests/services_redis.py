"""A private Redis server for tests that stop, pause or kill it (never the shared one on 6379).

    @pytest.fixture
    def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
        with private_redis_running(tmp_path) as server:
            yield server

    def test_x(private_redis: PrivateRedis) -> None:
        with private_redis.as_default_cache():
            private_redis.stop()  # or .pause(5000), or .freeze() and .thaw()
            ...

The server runs on a free port with its data directory under the test's tmp_path, and is
killed at teardown whatever the test did to it.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from tests.helpers import free_port, process_stop


class PrivateRedis:
    """A redis-server subprocess of one test: start, stop, pause, and caches pointed at it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart, on the same port) the server and wait until it answers PING."""
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                if self.cli("PING") == "PONG":
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on {self.port} within 10 s")

    def cli(self, *args: str) -> str:
        """Run one redis-cli command against this server; return its reply."""
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            capture_output=True,
            timeout=5,
            check=True,
        )
        return done.stdout.decode().strip()

    def stop(self) -> None:
        """Shut the server down as an operator would (SHUTDOWN NOSAVE) and wait for it."""
        with contextlib.suppress(subprocess.SubprocessError):
            self.cli("SHUTDOWN", "NOSAVE")
        self.kill()

    def pause(self, milliseconds: int) -> None:
        """Hang every client for `milliseconds`: connections open, no command answered.

        CLIENT PAUSE ALL holds every command, CLIENT UNPAUSE included: it ends on its own.
        """
        self.cli("CLIENT", "PAUSE", str(milliseconds), "ALL")

    def freeze(self) -> None:
        """Hang the server until thaw() (SIGSTOP: the kernel still accepts connections)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        process_stop(self.process, kill=True)

    @contextlib.contextmanager
    def as_default_cache(self, **settings: object) -> Iterator[None]:
        """Point the default cache (and with it sessions, throttles, the hot path) here."""
        from apps.updates.delivery import hotcache
        from config.settings.base import redis_cache

        hotcache.store_reset()
        try:
            with override_settings(CACHES={"default": redis_cache(self.url)}, **settings):
                yield
        finally:
            hotcache.store_reset()


@contextlib.contextmanager
def private_redis_running(directory: Path) -> Iterator[PrivateRedis]:
    """Start a private redis-server on a free port; kill it on leaving, whatever happened."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server and redis-cli are needed")
    server = PrivateRedis(directory)
    try:
        server.start()
        yield server
    finally:
        server.kill()
