"""`make stack`, `deploy/stack/check.py` and `make stack-down`, as an operator runs them.

The stack comes up for real (nginx, gunicorn, granian or gunicorn, two Celery workers, beat,
moto, the SMTP sink under honcho) on the run's MariaDB, Redis and RabbitMQ, with a smaller seed
and everything of its own: a run directory in tmp, free ports, a database and a vhost named for
this test, the test run's Redis db. The check script drives it through nginx; then
`make stack-down` must leave no process behind: none with the stack's run directory in its
environment (gunicorn's, Celery's and nginx's children included), no port still listening.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from tests.deploy.tools import ci
from tests.helpers import STACK_PORTS, stack_env

ROOT = Path(__file__).resolve().parents[2]
# Up to the seeded catalogue, on a clean clone `make stack` takes well under a minute here;
# the bound is three.
UP_TIMEOUT = 180

pytestmark = [pytest.mark.real_services]


def _nginx() -> None:
    if shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK):
        return
    why = "no nginx binary (as root, `make stack` and `make test` install Debian's)"
    if ci():
        pytest.fail(f"CI=true needs the stack test, but {why}", pytrace=False)
    pytest.skip(why)


def stack_pids(directory: Path) -> list[int]:
    """Live processes that name this run directory in their environment or command line.

    What `make stack` starts has DEPOT_STACK_DIR in its environment, except nginx, which
    overwrites it with its process title; nginx's command line names its config there.
    """
    marker = f"DEPOT_STACK_DIR={directory}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and (marker in environ or str(directory).encode() in cmdline):
            found.append(int(entry.name))
    return found


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


@dataclass
class RunningStack:
    directory: Path
    env: dict[str, str]
    ports: dict[str, int]
    process: subprocess.Popen[bytes]
    log: Path
    ready: dict[str, object]

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _database_drop(name: str) -> None:
    import MySQLdb

    db = settings.DATABASES["default"]
    connection = MySQLdb.connect(
        host=db["HOST"] or "127.0.0.1",
        port=int(db["PORT"] or 3306),
        user=db["USER"],
        passwd=db["PASSWORD"],
    )
    try:
        connection.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        connection.close()


def _vhost_drop(name: str) -> None:
    rabbitmqctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    if os.geteuid() == 0 and os.access(rabbitmqctl, os.X_OK):
        subprocess.run([rabbitmqctl, "-q", "delete_vhost", name], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """`make stack` in the background on its own ports and names; stopped at the end."""
    _nginx()
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("make stack runs from the project's .venv (`make test` makes it)")
    if settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1] != "mysql":
        pytest.skip("the stack runs on MariaDB")
    directory = tmp_path_factory.mktemp("stack")
    name = f"depot_stack_test_{os.getpid()}"
    env = stack_env(name)
    ports = {port: int(env[f"DEPOT_STACK_{port}_PORT"]) for port in STACK_PORTS}
    env.update(DEPOT_STACK_DIR=str(directory), DEPOT_STACK_LICENSES="300")
    log = directory / "make-stack.log"
    assert not stack_pids(directory)
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "stack"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = RunningStack(directory, env, ports, process, log, {})
    try:
        ready = directory / "ready.json"
        deadline = time.monotonic() + UP_TIMEOUT
        while not ready.exists():
            if process.poll() is not None:
                pytest.fail(
                    f"make stack exited ({process.returncode}):\n{running.output()[-5000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"make stack not up in {UP_TIMEOUT} s:\n{running.output()[-5000:]}")
            time.sleep(0.5)
        running.ready = json.loads(ready.read_text())
        yield running
    finally:
        if process.poll() is None or stack_pids(directory) or any(map(listening, ports.values())):
            # The test failed before stack-down did its job: stop everything regardless.
            subprocess.run(
                ["make", "--no-print-directory", "stack-down"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                timeout=120,
            )
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            for pid in stack_pids(directory):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)
        _database_drop(name)
        _vhost_drop(name)


def test_make_stack_serves_the_check_and_stack_down_leaves_nothing_running(
    stack: RunningStack,
) -> None:
    # Given `make stack` up, with every process of it carrying the run directory
    printed = stack.output()
    assert f"Store:    http://127.0.0.1:{stack.ports['STORE']}/" in printed
    assert f"Updates:  http://127.0.0.1:{stack.ports['UPDATES']}/" in printed
    assert "password stack-" in printed
    started = stack_pids(stack.directory)
    assert len(started) >= 8, started  # eight roles, their children, honcho

    # When the check script drives it through nginx
    check = subprocess.run(
        [sys.executable, "deploy/stack/check.py", "--stack-dir", str(stack.directory)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    print(check.stdout)

    # Then every step passed: store, admin CSS, PUC, EDD, download, purchase, receipt
    assert check.returncode == 0, check.stdout + check.stderr + stack.output()[-5000:]
    assert "stack check: 7 of 7 steps ok" in check.stdout

    # When the operator stops it from another shell
    down = subprocess.run(
        ["make", "--no-print-directory", "stack-down"],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert down.returncode == 0, down.stdout + down.stderr

    # Then `make stack` returns, and no process it started is left, nor a port open
    stack.process.wait(timeout=60)
    assert stack_pids(stack.directory) == []
    assert [name for name, port in stack.ports.items() if listening(port)] == []
    assert not list((stack.directory / "pids").glob("*.pid"))
