"""A private RabbitMQ node for tests that stop the broker (never the shared one on 5672).

`rabbitmq_node` (module scope) runs a second `rabbitmq-server` with its own node name, AMQP
and distribution ports, data, logs, config, an empty plugin list and an Erlang cookie of its
own under pytest's tmp directory. A test stops it (`rabbitmqctl stop`), starts it again on the
same port, or pauses it (SIGSTOP), and points worker, beat (through `env`) and this process
(`celery_app_on`) at it.

The Debian package's `/usr/sbin/rabbitmq*` wrappers switch to the `rabbitmq` user, which
cannot read pytest's tmp directory; the scripts they wrap are run directly, as this user,
with HOME pointing at the node's own cookie (the shared node's cookie stays unread).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import free_port

_SCRIPT_DIRS = (Path("/usr/lib/rabbitmq/bin"), Path("/usr/local/lib/rabbitmq/bin"))


def _script(name: str) -> str | None:
    """The real rabbitmq script `name` (not the Debian wrapper that changes user)."""
    for folder in _SCRIPT_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


def _amqp_up(url: str) -> bool:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=1) as conn:
            conn.connect()
        return True
    except Exception:
        return False


@dataclass
class RabbitNode:
    """One private RabbitMQ node; `start`, `stop` and `start` again keep its port and data."""

    base: Path
    name: str = field(default_factory=lambda: f"depot-test-{os.getpid()}@localhost")
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @property
    def env(self) -> dict[str, str]:
        """Environment that points a worker or beat process (config.settings.test) here."""
        return {"DEPOT_TEST_BROKER_URL": self.url}

    def _environ(self) -> dict[str, str]:
        home = self.base / "home"
        if not home.exists():
            home.mkdir(parents=True)
            cookie = home / ".erlang.cookie"
            cookie.write_text(secrets.token_hex(16).upper())
            cookie.chmod(0o400)
            (self.base / "enabled_plugins").write_text("[].\n")
            (self.base / "rabbitmq-env.conf").write_text("")
            # Guest may log in from 127.0.0.1 only (the default); nothing listens elsewhere.
            (self.base / "rabbitmq.conf").write_text(
                f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            )
            for sub in ("mnesia", "log"):
                (self.base / sub).mkdir()
        return {
            **os.environ,
            "HOME": str(home),
            # Not /etc/rabbitmq/rabbitmq-env.conf: it names the shared node.
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `rabbitmqctl -n <node> args` with this node's cookie."""
        ctl = _script("rabbitmqctl")
        assert ctl is not None
        return subprocess.run(
            [ctl, "-n", self.name, *args],
            env=self._environ(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, timeout: float = 60) -> float:
        """Start the node and wait until it takes AMQP logins; return the seconds it took."""
        server = _script("rabbitmq-server")
        assert server is not None
        started = time.monotonic()
        with (self.base / "server.out").open("ab") as out:
            self.process = subprocess.Popen(
                [server],
                env=self._environ(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group to kill at teardown
            )
        deadline = started + timeout
        # `rabbitmqctl await_startup` gives up at once while the node is not yet registered
        # with epmd, and each call costs ~1 s of CLI start-up; an AMQP login is the real test.
        while not _amqp_up(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"RabbitMQ node {self.name} did not start:\n{self.log_tail()}")
            time.sleep(0.25)
        return time.monotonic() - started

    def stop(self, timeout: float = 60) -> float:
        """Stop the node as an operator would (`rabbitmqctl stop`); return the seconds it took."""
        started = time.monotonic()
        result = self.ctl("stop", timeout=timeout)
        if result.returncode != 0:
            self.kill()
        elif self.process is not None:
            self.process.wait(timeout=timeout)
        assert not _amqp_up(self.url)
        return time.monotonic() - started

    def pause(self) -> None:
        """SIGSTOP the node: it keeps its sockets (the kernel still accepts) but answers nothing."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the node's whole process group (teardown, or a crash)."""
        if self.process is None or self.process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        out = self.base / "server.out"
        logs = [out, *sorted((self.base / "log").glob("*.log"))]
        return "\n".join(
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            for path in logs
            if path.exists()
        )


@pytest.fixture(scope="module")
def rabbitmq_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    """A running private RabbitMQ node for this module, killed at teardown."""
    if _script("rabbitmq-server") is None or _script("rabbitmqctl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("rabbitmq-server is needed for the broker-outage tests")
        pytest.skip("rabbitmq-server is not installed")
    node = RabbitNode(base=tmp_path_factory.mktemp("rabbitmq"))
    try:
        took = node.start()
        print(f"\nprivate RabbitMQ {node.name} on 127.0.0.1:{node.port} up in {took:.1f} s")
        yield node
    finally:
        node.kill()


@contextmanager
def celery_app_on(url: str) -> Iterator[None]:
    """Send this process's tasks to the broker at `url` (not the shared one) for a while."""
    from kombu import pools

    from config.celery_app import app

    def reset() -> None:
        # kombu keeps one pool per broker URL for the process: close and forget them all.
        pools.reset()
        app._pool = None  # type: ignore[attr-defined]
        app.amqp._producer_pool = None  # type: ignore[attr-defined]

    previous = app.conf.broker_url
    reset()
    app.conf.update(broker_url=url)
    try:
        yield
    finally:
        reset()
        app.conf.update(broker_url=previous)
