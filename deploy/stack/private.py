"""Private MariaDB, Redis and RabbitMQ for `make stack` (DEPOT_STACK_PRIVATE_SERVICES=1).

The load and chaos harness (bench/load) stops the broker, Redis and the database in the middle
of a run. The machine's shared services are used by everyone else (tests, other stacks), so a
stack that may be hurt runs instances of its own: other ports (stack.env's
DEPOT_STACK_PRIVATE_*_PORT), data under the run directory (.stack/services/), no configuration
of the shared servers read (`--no-defaults`, RabbitMQ's own config, cookie and node name), the
way tests/services_*.py start theirs.

Each process gets `marker` (DEPOT_STACK_RUN=<run dir>) in its environment, so `make stack-down`
finds it like any role, and writes .stack/pids/<name>.pid. They run in sessions of their own,
outside honcho: a service that stops must not make honcho stop the whole stack. chaos.py calls
`service_stop` and `service_start` with the same ports, so a restarted service is the same one.

Only the standard library: run.py imports this before the virtualenv matters.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

NAMES = ("mariadb", "redis", "rabbitmq")
_RABBIT_SCRIPTS = (Path("/usr/lib/rabbitmq/bin"), Path("/usr/local/lib/rabbitmq/bin"))


@dataclass(frozen=True)
class Private:
    """Where the private services of the stack in `directory` listen and keep their data."""

    directory: Path
    mariadb_port: int
    redis_port: int
    rabbitmq_port: int
    rabbitmq_dist_port: int

    @classmethod
    def of(cls, directory: Path, env: dict[str, str]) -> Private:
        return cls(
            directory=directory,
            mariadb_port=int(env["DEPOT_STACK_PRIVATE_MARIADB_PORT"]),
            redis_port=int(env["DEPOT_STACK_PRIVATE_REDIS_PORT"]),
            rabbitmq_port=int(env["DEPOT_STACK_PRIVATE_RABBITMQ_PORT"]),
            rabbitmq_dist_port=int(env["DEPOT_STACK_PRIVATE_RABBITMQ_DIST_PORT"]),
        )

    @property
    def base(self) -> Path:
        return self.directory / "services"

    @property
    def urls(self) -> dict[str, str]:
        """What replaces stack.env's shared-service URLs."""
        return {
            "DEPOT_STACK_MARIADB_URL": f"mysql://root:@127.0.0.1:{self.mariadb_port}",
            "DEPOT_STACK_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}",
            "DEPOT_STACK_RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{self.rabbitmq_port}",
        }

    @property
    def rabbit_node(self) -> str:
        return f"depot-stack-{self.rabbitmq_port}@localhost"

    def port(self, name: str) -> int:
        return {
            "mariadb": self.mariadb_port,
            "redis": self.redis_port,
            "rabbitmq": self.rabbitmq_port,
        }[name]


def _marker_env(directory: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key in ("PATH", "LANG", "LC_ALL", "TMPDIR", "USER", "TZ")
    }
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
    env["DEPOT_STACK_RUN"] = str(directory)
    env["DEPOT_STACK_DIR"] = str(directory)
    return {**env, **(extra or {})}


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def _rabbit_script(name: str) -> str:
    for folder in _RABBIT_SCRIPTS:
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"no {name}: private services need RabbitMQ installed")
    return found


def _rabbit_env(private: Private) -> dict[str, str]:
    base = private.base / "rabbitmq"
    home = base / "home"
    if not home.exists():
        home.mkdir(parents=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq-env.conf").write_text("")
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{private.rabbitmq_port}\n"
        )
        for sub in ("mnesia", "log"):
            (base / sub).mkdir()
    return _marker_env(
        private.directory,
        {
            "HOME": str(home),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": private.rabbit_node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(private.rabbitmq_port),
            "RABBITMQ_DIST_PORT": str(private.rabbitmq_dist_port),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        },
    )


def _command(private: Private, name: str) -> tuple[list[str], dict[str, str]]:
    base = private.base / name
    if name == "redis":
        return [
            "redis-server",
            *("--port", str(private.redis_port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(base)),
            # redis-server rewrites its environment and command line with its title, marker
            # included: the run directory in the title is how `make stack-down` knows it.
            *("--proc-title-template", f"{{title}} {{listen-addr}} {private.directory}"),
        ], _marker_env(private.directory)
    if name == "mariadb":
        return [
            "mariadbd",
            "--no-defaults",
            f"--datadir={base / 'data'}",
            f"--port={private.mariadb_port}",
            f"--socket={base / 'mariadb.sock'}",
            f"--pid-file={base / 'mariadb.pid'}",
            "--bind-address=127.0.0.1",
            "--skip-networking=0",
            "--user=root",
            "--innodb-buffer-pool-size=128M",
            "--max-connections=300",
            "--skip-log-bin",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
        ], _marker_env(private.directory)
    if name == "rabbitmq":
        return [_rabbit_script("rabbitmq-server")], _rabbit_env(private)
    raise ValueError(name)


def _mariadb_install(private: Private) -> None:
    data = private.base / "mariadb" / "data"
    if (data / "mysql").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--user=root",
        ],
        capture_output=True,
        timeout=180,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed: {done.stderr.decode()[-2000:]}")


def service_start(private: Private, name: str, timeout: float = 90) -> float:
    """Start one private service and wait until its port takes connections; the seconds."""
    started = time.monotonic()
    base = private.base / name
    base.mkdir(parents=True, exist_ok=True)
    if name == "mariadb":
        _mariadb_install(private)
    command, env = _command(private, name)
    with (base / "server.log").open("ab") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    pids = private.directory / "pids"
    pids.mkdir(parents=True, exist_ok=True)
    (pids / f"{name}.pid").write_text(f"{process.pid}\n")
    deadline = started + timeout
    while not _ready(private, name):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"private {name} did not start; see {base / 'server.log'}")
        time.sleep(0.2)
    return time.monotonic() - started


def _ready(private: Private, name: str) -> bool:
    if not _listening(private.port(name)):
        return False
    if name != "mariadb":
        return True
    # mariadbd listens a moment before it takes logins.
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        return True
    done = subprocess.run(
        [client, "-h127.0.0.1", f"-P{private.mariadb_port}", "-uroot", "-e", "SELECT 1"],
        capture_output=True,
        timeout=10,
    )
    return done.returncode == 0


def service_pid(private: Private, name: str) -> int | None:
    try:
        return int((private.directory / "pids" / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def service_stop(private: Private, name: str, timeout: float = 60) -> float:
    """Stop one private service as an operator would; the seconds it took.

    MariaDB and Redis on SIGTERM (a clean shutdown); RabbitMQ with `rabbitmqctl stop`. The
    whole session is killed after `timeout` (RabbitMQ's Erlang children included).
    """
    started = time.monotonic()
    pid = service_pid(private, name)
    if pid is None:
        return 0.0
    if name == "rabbitmq":
        with contextlib.suppress(subprocess.SubprocessError, RuntimeError):
            subprocess.run(
                [_rabbit_script("rabbitmqctl"), "-n", private.rabbit_node, "stop"],
                env=_rabbit_env(private),
                capture_output=True,
                timeout=timeout,
            )
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = started + timeout
    while _group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _group_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    while _listening(private.port(name)) and time.monotonic() < deadline + 10:
        time.sleep(0.1)
    (private.directory / "pids" / f"{name}.pid").unlink(missing_ok=True)
    return time.monotonic() - started


def _group_alive(group: int) -> bool:
    """Whether any live (not zombie) process is in the session/process group `group`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == group:
            return True
    return False


def services_start(private: Private, say: object = print) -> None:
    """Start all three (RabbitMQ, the slowest, in parallel with the others)."""
    assert callable(say)
    for name in NAMES:
        took = service_start(private, name)
        say(f"private {name} on 127.0.0.1:{private.port(name)} up in {took:.1f} s")


def services_stop(private: Private) -> None:
    for name in NAMES:
        service_stop(private, name, timeout=30)
