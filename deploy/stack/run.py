"""`make stack` and `make stack-down`: Depot's production topology as processes on this machine.

    python deploy/stack/run.py up     # make stack: prepare, start, seed, then run until Ctrl-C
    python deploy/stack/run.py down   # make stack-down: stop a stack left running

`up` reads deploy/stack/stack.env (the environment wins over it), makes the secrets once
(.stack/secrets.env: Django's secret key, the license-key HMAC and encryption keys, the metrics
token, the package signing key), creates the database anew (moto keeps the release zips in
memory, so nothing of a previous run would match them), the RabbitMQ vhost and the run
directory, migrates and collects the static files, writes nginx's config from deploy/nginx the
way tests/deploy/test_nginx.py does, and starts deploy/stack/Procfile under honcho: nginx,
gunicorn (web), granian or gunicorn (updates), a pipeline and a mail worker, beat, moto's S3
server and an SMTP sink. Once they listen it seeds the catalogue (manage.py seed_stack), prints
where everything is, and stays in the foreground: Ctrl-C (or `down`, from another shell)
stops every process, and whatever honcho could not stop is killed by its pid file.

Why these choices: the stack runs the roles exactly as the image does (deploy/docker/
entrypoint.sh), so what is load- or fault-tested here is what ships; each process writes its
pid file (role.sh) and carries DEPOT_STACK_RUN in its environment, so `down` finds every one of
them, gunicorn's and Celery's children included, without ever matching a process by name.

Only the standard library is imported at the top: `down` must work without the virtualenv.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "deploy" / "stack"
NGINX_CONF = ROOT / "deploy" / "nginx"
VENV_BIN = ROOT / ".venv" / "bin"
PROCESSES = ("nginx", "web", "updates", "pipeline", "mail", "beat", "s3", "smtp")
# DEPOT_STACK_PRIVATE_SERVICES=1: the services deploy/stack/private.py starts, outside honcho.
PRIVATE = ("mariadb", "redis", "rabbitmq")
SECRET_NAMES = (
    "DJANGO_SECRET_KEY",
    "LICENSE_KEY_HMAC_SECRET",
    "LICENSE_KEY_ENCRYPTION_KEY",
    "DEPOT_METRICS_TOKEN",
    "DEPOT_SIGNING_KEY",
)
# How long `down` (and Ctrl-C) wait for a graceful stop before SIGKILL: a Celery worker
# finishes the task in hand, gunicorn its requests.
GRACE_SECONDS = 20.0


def say(message: str) -> None:
    print(f"depot-stack: {message}", flush=True)


class StackError(Exception):
    """Something the stack needs is missing; the message says what to do."""


# --- configuration -------------------------------------------------------------------------


def env_file_read(path: Path) -> dict[str, str]:
    """Read KEY=value lines (no quotes, comments on lines of their own)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def run_dir() -> Path:
    """The run directory: DEPOT_STACK_DIR, else .stack in the repository (gitignored)."""
    return Path(os.environ.get("DEPOT_STACK_DIR") or ROOT / ".stack").resolve()


@dataclass
class Stack:
    """Where the stack runs and the environment every process gets."""

    dir: Path
    env: dict[str, str]

    def port(self, name: str) -> int:
        return int(self.env[f"DEPOT_STACK_{name}_PORT"])

    @property
    def store_url(self) -> str:
        return f"http://127.0.0.1:{self.port('STORE')}"

    @property
    def updates_url(self) -> str:
        return f"http://127.0.0.1:{self.port('UPDATES')}"

    @property
    def pids(self) -> Path:
        return self.dir / "pids"


def stack_config() -> Stack:
    """stack.env with the environment's values on top, and what follows from them."""
    directory = run_dir()
    defaults = env_file_read(HERE / "stack.env")
    env = {key: os.environ.get(key, value) for key, value in defaults.items()}
    for key, value in os.environ.items():
        if key.startswith("DEPOT_STACK_"):
            env[key] = value
    # The rest of the caller's environment stays out (a DATABASE_URL or DJANGO_SETTINGS_MODULE
    # in the shell must not leak into production settings), except what any process expects.
    for key in ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "TERM", "TZ"):
        if key in os.environ:
            env.setdefault(key, os.environ[key])
    env["DEPOT_STACK_DIR"] = str(directory)
    return Stack(dir=directory, env=env)


# --- processes: pid files, /proc, stopping -------------------------------------------------


def _marker(directory: Path) -> bytes:
    """What every process honcho starts carries in its environment, and nothing else does.

    Not DEPOT_STACK_DIR: a shell that sourced .stack/stack.env, or `make stack-down` run with
    DEPOT_STACK_DIR set, has that too, and must never be stopped. This one is only in the
    environment run.py hands honcho (not in the env file), and children inherit it.
    """
    return f"DEPOT_STACK_RUN={directory}".encode()


def _environ_has(pid: int, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie is gone, only not yet reaped by its parent


def _ancestors() -> set[int]:
    """This process and its parents: `down` run from inside the stack's env never hits them."""
    seen, pid = set(), os.getpid()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return seen


def _table() -> dict[int, tuple[int, int]]:
    """Every live process now: pid -> (parent pid, process group)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z":
                table[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return table


def _is_role(pid: int, directory: Path) -> bool:
    """Whether a pid file's process is still the stack's (pids are reused).

    nginx overwrites its environment with its process title, so it is known by the run
    directory on its command line instead.
    """
    return _environ_has(pid, _marker(directory)) or str(directory) in _cmdline(pid)


def _roles(directory: Path) -> list[int]:
    """The live processes the stack's pid files name (honcho and each role's main process)."""
    found = []
    for name in ("honcho", *PROCESSES, *PRIVATE):
        pid = pid_file_read(directory / "pids" / f"{name}.pid")
        if pid is not None and _alive(pid) and _is_role(pid, directory):
            found.append(pid)
    return found


def stack_processes(directory: Path) -> list[int]:
    """Every live process of the stack in `directory`, children included.

    The ones carrying the marker or named by a pid file, the process group each role leads
    (honcho starts each in a session of its own: nginx's and gunicorn's workers are there
    whatever their environment says), and all their descendants.
    """
    table = _table()
    marker = _marker(directory)
    found = {pid for pid in table if _environ_has(pid, marker)} | set(_roles(directory))
    groups = {table[pid][1] for pid in found if pid in table and table[pid][1] == pid}
    found |= {pid for pid, (_, group) in table.items() if group in groups}
    grew = True
    while grew:
        children = {pid for pid, (parent, _) in table.items() if parent in found} - found
        found |= children
        grew = bool(children)
    return sorted(found - _ancestors())


def pid_file_read(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    left = [pid for pid in pids if _alive(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [pid for pid in left if _alive(pid)]
    return left


def stop_pids(pids: list[int], what: str, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM, then SIGKILL whatever is left after `grace` seconds."""
    pids = [pid for pid in pids if _alive(pid)]
    if not pids:
        return
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    left = _wait_gone(pids, grace)
    for pid in left:
        say(f"{what}: pid {pid} ({_cmdline(pid)[:80]}) ignored SIGTERM; SIGKILL")
        _signal(pid, signal.SIGKILL)
    _wait_gone(left, 5)


def sweep(directory: Path) -> list[int]:
    """Stop every process of the stack in `directory` that is still alive; return their pids."""
    # The roles' own processes first (their pid files), so that masters stop their children.
    roles = _roles(directory)
    stop_pids(roles, "stack-down")
    rest = stack_processes(directory)
    stop_pids(rest, "stack-down", grace=5)
    for name in ("honcho", *PROCESSES, *PRIVATE):
        (directory / "pids" / f"{name}.pid").unlink(missing_ok=True)
    return roles + rest


def down() -> int:
    """`make stack-down`: stop `up` (which stops honcho and its processes), then sweep."""
    directory = run_dir()
    run_pid = pid_file_read(directory / "pids" / "run.pid")
    stopped = []
    if run_pid is not None and _alive(run_pid) and "deploy/stack/run.py" in _cmdline(run_pid):
        say(f"stopping the stack in {directory} (run.py, pid {run_pid})")
        _signal(run_pid, signal.SIGTERM)
        if _wait_gone([run_pid], GRACE_SECONDS + 15):
            say(f"run.py (pid {run_pid}) did not stop; SIGKILL")
            _signal(run_pid, signal.SIGKILL)
            _wait_gone([run_pid], 5)
        stopped.append(run_pid)
    (directory / "pids" / "run.pid").unlink(missing_ok=True)
    stopped += sweep(directory)
    left = stack_processes(directory)
    if left:
        say(f"still running after stack-down: {left}")
        return 1
    say(
        f"stopped; nothing of the stack in {directory} is running any more"
        if stopped
        else f"no stack was running in {directory}"
    )
    return 0


# --- preparing: services, secrets, database, vhost, nginx ----------------------------------


def _reachable(url: str, default_port: int) -> str | None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=1):
            return None
    except OSError as error:
        return f"{parts.scheme} at {host}:{port}: {error.strerror or error}"


def services_check(stack: Stack) -> None:
    problems = [
        why
        for url, port in (
            (stack.env["DEPOT_STACK_MARIADB_URL"], 3306),
            (stack.env["DEPOT_STACK_REDIS_URL"], 6379),
            (stack.env["DEPOT_STACK_RABBITMQ_URL"], 5672),
        )
        if (why := _reachable(url, port)) is not None
    ]
    if problems:
        raise StackError("the stack runs on MariaDB, Redis and RabbitMQ: " + "; ".join(problems))
    busy = []
    for name in ("STORE", "UPDATES", "WEB", "UPDATES_ROLE", "S3", "SMTP"):
        port = stack.port(name)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"DEPOT_STACK_{name}_PORT={port}")
    if busy:
        raise StackError(
            "ports in use (another stack? `make stack-down`; or pick others): " + ", ".join(busy)
        )


def nginx_binary() -> str:
    found = os.environ.get("DEPOT_STACK_NGINX") or shutil.which("nginx")
    if not found and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    if not found:
        raise StackError(
            "no nginx (as root, `make stack` installs Debian's: apt-get install nginx)"
        )
    return found


def _manage(*args: str, settings: str = "config.settings.production") -> list[str]:
    return [str(VENV_BIN / "python"), "manage.py", *args, "--settings", settings]


def _run(stack: Stack, command: list[str], what: str, timeout: float = 300) -> str:
    done = subprocess.run(
        command, cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise StackError(f"{what} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout


def secrets_ensure(stack: Stack) -> None:
    """Load .stack/secrets.env, making it first if there is none."""
    path = stack.dir / "secrets.env"
    if path.exists():
        stack.env.update(env_file_read(path))
        return
    made = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "LICENSE_KEY_HMAC_SECRET": secrets.token_urlsafe(32),
        "LICENSE_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "DEPOT_METRICS_TOKEN": secrets.token_urlsafe(32),
    }
    stack.env.update(made)
    # The package signing key the way an operator makes one (README, "Deploying").
    made["DEPOT_SIGNING_KEY"] = _run(
        stack, _manage("signing_key", "--generate"), "manage.py signing_key --generate"
    ).strip()
    stack.env["DEPOT_SIGNING_KEY"] = made["DEPOT_SIGNING_KEY"]
    lines = ["# Made by `make stack` at its first run and kept; delete it for new secrets."]
    lines += [f"{key}={value}" for key, value in made.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def database_recreate(stack: Stack) -> None:
    """Drop and create the stack's database: each `make stack` starts from an empty one.

    moto's S3 server keeps the release zips in memory only, so after a restart a kept database
    would list releases whose packages are gone; and a new secrets file cannot read old keys.
    """
    import MySQLdb

    parts = urlsplit(stack.env["DEPOT_STACK_MARIADB_URL"])
    name = stack.env["DEPOT_STACK_DATABASE"]
    if not name.replace("_", "").isalnum():
        raise StackError(f"DEPOT_STACK_DATABASE={name!r}: letters, digits and _ only")
    connection = MySQLdb.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        passwd=parts.password or "",
    )
    try:
        cursor = connection.cursor()
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        connection.close()


def vhost_ensure(stack: Stack) -> str:
    """Create the RabbitMQ vhost with rabbitmqctl (root only); return the vhost to use."""
    wanted = stack.env["DEPOT_STACK_VHOST"]
    if private_mode(stack):
        return "/"  # the private node is the stack's alone
    rabbitmqctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    if os.geteuid() != 0 or not os.access(rabbitmqctl, os.X_OK):
        say(
            f"RabbitMQ: not root or no rabbitmqctl, so no vhost {wanted!r}: the stack uses the "
            "default vhost '/' with its own queue (depot-stack)"
        )
        return "/"
    user = urlsplit(stack.env["DEPOT_STACK_RABBITMQ_URL"]).username or "guest"
    listed = subprocess.run(
        [rabbitmqctl, "-q", "list_vhosts"], capture_output=True, text=True, timeout=60
    )
    if wanted not in listed.stdout.split():
        subprocess.run(
            [rabbitmqctl, "-q", "add_vhost", wanted], capture_output=True, text=True, timeout=60
        )
    granted = subprocess.run(
        [rabbitmqctl, "-q", "set_permissions", "-p", wanted, user, ".*", ".*", ".*"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if granted.returncode != 0:
        say(f"RabbitMQ: vhost {wanted!r} not usable ({granted.stderr.strip()}); using '/'")
        return "/"
    return wanted


def environment_derive(stack: Stack, *, vhost: str) -> None:
    """Fill in what production settings read and stack.env does not say directly."""
    env, directory = stack.env, stack.dir
    env["DATABASE_URL"] = (
        f"{env['DEPOT_STACK_MARIADB_URL'].rstrip('/')}/{env['DEPOT_STACK_DATABASE']}"
    )
    env["REDIS_URL"] = f"{env['DEPOT_STACK_REDIS_URL'].rstrip('/')}/{env['DEPOT_STACK_REDIS_DB']}"
    broker = env["DEPOT_STACK_RABBITMQ_URL"].rstrip("/")
    env["CELERY_BROKER_URL"] = f"{broker}//" if vhost == "/" else f"{broker}/{vhost}"
    # On the shared default vhost, a queue of its own keeps the stack's tasks from others'.
    env["CELERY_DEFAULT_QUEUE"] = "depot-stack" if vhost == "/" else "depot"
    # The receipts' queue (CELERY_TASK_ROUTES), likewise.
    env["DEPOT_MAIL_QUEUE"] = "depot-stack-mail" if vhost == "/" else "mail"
    env["AWS_S3_ENDPOINT_URL"] = f"http://127.0.0.1:{stack.port('S3')}"
    env["EMAIL_PORT"] = str(stack.port("SMTP"))
    env["DEPOT_STORE_BASE_URL"] = stack.store_url
    env["DEPOT_UPDATES_BASE_URL"] = stack.updates_url
    env["DJANGO_STATIC_ROOT"] = str(directory / "static")
    env["DJANGO_MEDIA_ROOT"] = str(directory / "media")
    env["DEPOT_STACK_NGINX"] = nginx_binary()
    # granian when it is installed (requirements/production.txt), else gunicorn's updates.conf.
    granian = (VENV_BIN / "granian").exists()
    env["DEPOT_STACK_UPDATES_SERVER"] = "updates" if granian else "updates-gunicorn"
    env["PATH"] = f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("DJANGO_SETTINGS_MODULE", None)  # each role picks its own (entrypoint.sh)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)


def _replace_once(text: str, old: str, new: str, name: str) -> str:
    if text.count(old) != 1:
        raise StackError(f"deploy/nginx/{name} changed: expected {old!r} once in it")
    return text.replace(old, new)


def nginx_generate(stack: Stack) -> Path:
    """deploy/nginx with the stack's upstreams, ports, static root and run files."""
    into = stack.dir / "nginx"
    if into.exists():
        shutil.rmtree(into)
    (into / "temp").mkdir(parents=True)
    upstreams = (NGINX_CONF / "upstreams-compose.conf").read_text()
    for old, new in (
        ("server web:8000", f"server 127.0.0.1:{stack.port('WEB')}"),
        ("server updates:8001", f"server 127.0.0.1:{stack.port('UPDATES_ROLE')}"),
        ("default /srv/depot/static;", f"default {stack.dir / 'static'};"),
    ):
        upstreams = _replace_once(upstreams, old, new, "upstreams-compose.conf")
    upstreams = "# Written by deploy/stack/run.py from upstreams-compose.conf.\n" + upstreams
    upstreams += "".join(
        f"{kind}_temp_path {into / 'temp' / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (into / "upstreams-stack.conf").write_text(upstreams)
    # What nginx.conf leaves to whoever starts nginx: the pid file, the foreground, the user
    # (as root, workers would drop to nobody, who may not read a home directory's static files).
    head = f"pid {into / 'nginx.pid'};\ndaemon off;\n"
    if os.geteuid() == 0:
        head += "user root;\n"
    nginx_edits = [("include upstreams-compose.conf;", "include upstreams-stack.conf;")]
    # bench/load: every simulated site comes from 127.0.0.1, one address for nginx's limit.
    rate = stack.env.get("DEPOT_STACK_NGINX_UPDATES_RATE", "")
    if rate:
        nginx_edits.append(
            ("zone=depot_updates:20m rate=15r/s;", f"zone=depot_updates:20m rate={rate};")
        )
    edits = {
        "nginx.conf": nginx_edits,
        "depot-store.conf": [("listen 8080 ", f"listen 127.0.0.1:{stack.port('STORE')} ")],
        "depot-updates.conf": [("listen 8081;", f"listen 127.0.0.1:{stack.port('UPDATES')};")],
    }
    for name, replacements in edits.items():
        text = (NGINX_CONF / name).read_text()
        for old, new in replacements:
            text = _replace_once(text, old, new, name)
        if name == "nginx.conf":
            text = head + text
        (into / name).write_text(text)
    checked = subprocess.run(
        [
            stack.env["DEPOT_STACK_NGINX"],
            "-t",
            "-q",
            "-p",
            f"{into}/",
            "-c",
            str(into / "nginx.conf"),
            "-e",
            str(into / "error.log"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if checked.returncode != 0:
        raise StackError(f"nginx -t refused the generated config:\n{checked.stderr}")
    return into


def redis_flush(stack: Stack) -> None:
    import redis

    redis.Redis.from_url(stack.env["REDIS_URL"]).flushdb()


def env_file_write(stack: Stack) -> None:
    """The whole environment the processes get, shell-quoted (honcho reads it too)."""
    keep = sorted(
        key
        for key in stack.env
        if key.startswith(
            (
                "DEPOT_",
                "DJANGO_",
                "DATABASE_",
                "REDIS_",
                "CELERY_",
                "AWS_",
                "EMAIL_",
                "LICENSE_",
                "GRANIAN_",
                "GUNICORN_",
            )
        )
        or key in ("PATH", "PYTHONUNBUFFERED")
    )
    lines = ["# Written by `make stack` (deploy/stack/run.py); `set -a; . .stack/stack.env`."]
    lines += [f"{key}={shlex.quote(stack.env[key])}" for key in keep]
    path = stack.dir / "stack.env"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


# --- running -------------------------------------------------------------------------------


def wait_ports(stack: Stack, honcho: subprocess.Popen[bytes], timeout: float = 90) -> None:
    wanted = {
        name: stack.port(name) for name in ("S3", "SMTP", "WEB", "UPDATES_ROLE", "STORE", "UPDATES")
    }
    deadline = time.monotonic() + timeout
    while wanted:
        if honcho.poll() is not None:
            raise StackError(f"honcho exited ({honcho.returncode}) before everything listened")
        for name, port in list(wanted.items()):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    del wanted[name]
            except OSError:
                pass
        if wanted and time.monotonic() > deadline:
            raise StackError(f"not listening after {timeout:g} s: {wanted}")
        time.sleep(0.1)


def bucket_ensure(stack: Stack) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=stack.env["AWS_S3_ENDPOINT_URL"],
        region_name=stack.env["AWS_S3_REGION_NAME"],
        aws_access_key_id=stack.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=stack.env["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=stack.env["AWS_STORAGE_BUCKET_NAME"])


def banner(stack: Stack, seed: dict[str, object], started: float) -> str:
    admin = seed["admin"]
    assert isinstance(admin, dict)
    lines = [
        "",
        f"Depot stack is up ({time.monotonic() - started:.0f} s), production settings, "
        f"run directory {stack.dir}",
        f"  Store:    {stack.store_url}/",
        f"  Admin:    {stack.store_url}/admin/  user {admin['username']}, password "
        f"{admin['password']}, TOTP secret {admin['totp_secret']}",
        f"            ({admin['totp_uri']})",
        f"  Updates:  {stack.updates_url}/  (point shipped plugins here: README, Deploying)",
        f"  Catalogue: {seed['counts']}",
        f"  Sample license: {seed['sample']}",
        f"  S3 (moto): {stack.env['AWS_S3_ENDPOINT_URL']}  bucket "
        f"{stack.env['AWS_STORAGE_BUCKET_NAME']};  mail: {stack.dir / 'mail'} (Maildir)",
        f"  Database {stack.env['DEPOT_STACK_DATABASE']}, Redis {stack.env['REDIS_URL']}, "
        f"broker {stack.env['CELERY_BROKER_URL'].split('@')[-1]}, updates role on "
        f"{'granian' if stack.env['DEPOT_STACK_UPDATES_SERVER'] == 'updates' else 'gunicorn'}",
        "",
        "  Check it end to end:  .venv/bin/python deploy/stack/check.py",
        "  Stop: Ctrl-C here, or `make stack-down` from another shell.",
        "",
    ]
    return "\n".join(lines)


class Stopping(Exception):
    pass


def private_mode(stack: Stack) -> bool:
    """DEPOT_STACK_PRIVATE_SERVICES=1: MariaDB, Redis and RabbitMQ of the stack's own."""
    return stack.env.get("DEPOT_STACK_PRIVATE_SERVICES", "0").lower() in ("1", "true", "yes")


def private_start(stack: Stack) -> object:
    """Start the private services (deploy/stack/private.py) and point the stack at them.

    For bench/load/chaos.py, which stops them during a run: never the shared ones.
    """
    import private

    services = private.Private.of(stack.dir, stack.env)
    stack.env.update(services.urls)
    try:
        private.services_start(services, say)
    except RuntimeError as error:
        raise StackError(str(error)) from error
    return services


def up() -> int:
    started = time.monotonic()
    stack = stack_config()
    run_pid = pid_file_read(stack.pids / "run.pid")
    if run_pid is not None and _alive(run_pid) and "deploy/stack/run.py" in _cmdline(run_pid):
        say(f"a stack already runs from {stack.dir} (pid {run_pid}); `make stack-down` first")
        return 1
    stack.pids.mkdir(parents=True, exist_ok=True)
    for sub in ("tmp", "new", "cur"):  # the SMTP sink's Maildir (aiosmtpd's Mailbox handler)
        (stack.dir / "mail" / sub).mkdir(parents=True, exist_ok=True)
    (stack.dir / "ready.json").unlink(missing_ok=True)
    (stack.pids / "run.pid").write_text(f"{os.getpid()}\n")

    honcho: subprocess.Popen[bytes] | None = None
    services: object = None

    def _stop(signum: int, frame: object) -> None:
        raise Stopping

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        if private_mode(stack):
            services = private_start(stack)
        services_check(stack)
        environment_derive(stack, vhost="/")  # the broker URL is set again below
        secrets_ensure(stack)
        database_recreate(stack)
        vhost_holder: list[str] = []
        vhost_thread = threading.Thread(target=lambda: vhost_holder.append(vhost_ensure(stack)))
        vhost_thread.start()
        redis_flush(stack)  # cached license states and releases of the database just dropped
        say(
            f"database {stack.env['DEPOT_STACK_DATABASE']} created empty; migrating and "
            "collecting static files"
        )
        t0 = time.monotonic()
        collect = subprocess.Popen(
            _manage("collectstatic", "--no-input", "-v", "0"),
            cwd=ROOT,
            env=stack.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _run(stack, _manage("migrate", "--no-input", "-v", "0"), "manage.py migrate")
        _, collect_err = collect.communicate(timeout=300)
        if collect.returncode != 0:
            raise StackError(f"collectstatic failed:\n{collect_err.decode()[-3000:]}")
        vhost_thread.join(timeout=120)
        environment_derive(stack, vhost=vhost_holder[0] if vhost_holder else "/")
        say(f"migrated and collected in {time.monotonic() - t0:.1f} s")
        nginx_generate(stack)
        env_file_write(stack)

        honcho_env = {**stack.env, "DEPOT_STACK_RUN": str(stack.dir)}
        honcho = subprocess.Popen(
            [
                str(VENV_BIN / "honcho"),
                "start",
                "--no-colour",
                "-f",
                str(HERE / "Procfile"),
                "-d",
                str(ROOT),
                "-e",
                str(stack.dir / "stack.env"),
            ],
            cwd=ROOT,
            env=honcho_env,
        )
        (stack.pids / "honcho.pid").write_text(f"{honcho.pid}\n")
        wait_ports(stack, honcho)
        bucket_ensure(stack)
        say("every process listens; seeding the catalogue")
        t0 = time.monotonic()
        _run(
            stack,
            _manage(
                "seed_stack",
                "--licenses",
                stack.env["DEPOT_STACK_LICENSES"],
                "--summary",
                str(stack.dir / "seed.json"),
                "--sites-file",
                str(stack.dir / "sites.jsonl"),
            ),
            "manage.py seed_stack",
            timeout=600,
        )
        seed = json.loads((stack.dir / "seed.json").read_text())
        say(f"seeded in {time.monotonic() - t0:.1f} s")
        print(banner(stack, seed, started), flush=True)
        ready = {
            "store": stack.store_url,
            "updates": stack.updates_url,
            "s3": stack.env["AWS_S3_ENDPOINT_URL"],
            "seconds": round(time.monotonic() - started, 1),
        }
        (stack.dir / "ready.json").write_text(json.dumps(ready) + "\n")
        honcho.wait()
        say(f"honcho exited ({honcho.returncode}): a process stopped, so the stack did")
        return 1
    except Stopping:
        say("stopping")
        return 0
    except StackError as error:
        say(str(error))
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if honcho is not None and honcho.poll() is None:
            honcho.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                honcho.wait(timeout=GRACE_SECONDS)
        if services is not None:
            import private

            assert isinstance(services, private.Private)
            private.services_stop(services)
        left = sweep(stack.dir)
        if left:
            say(f"stopped what honcho left: {left}")
        (stack.dir / "ready.json").unlink(missing_ok=True)
        (stack.pids / "run.pid").unlink(missing_ok=True)
        say("stopped")


def main(argv: list[str]) -> int:
    if argv[1:] == ["up"]:
        return up()
    if argv[1:] == ["down"]:
        return down()
    print(__doc__.split("\n\n")[0], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
