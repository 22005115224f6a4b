"""bench/checkout: POST /checkout/ to the confirmation page, Celery worker vs tasks inline.

    make bench-checkout           # or: .venv/bin/python bench/checkout/run.py
    .venv/bin/python bench/checkout/run.py --orders 50 --concurrency 0

The mail server (a local aiosmtpd) answers each message's DATA after 2 s. Prints figures and
ratios; asserts nothing about timings. See bench/checkout/README.md. It drops and recreates
the MariaDB database `depot_bench_checkout`, flushes Redis db 4 and purges the RabbitMQ queue
`bench-checkout`, and touches nothing else (the test suite's databases and Redis dbs 9-13,
bench/updates' `depot_bench` and Redis db 5 are safe).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable

HOST = "127.0.0.1"
DB_NAME = "depot_bench_checkout"
DB_PORT = 3306
REDIS_PORT, REDIS_DB = 6379, 4
BROKER_URL = f"amqp://guest:guest@{HOST}:5672//"
QUEUE = "bench-checkout"
PORT_WEB, PORT_SMTP = 18411, 18425
TARGET_P95_MS = 150.0

# Fixed bench-only secrets; the servers, the worker and the seeding must agree.
ENV = {
    "DATABASE_URL": f"mysql://root:@{HOST}:{DB_PORT}/{DB_NAME}",
    "REDIS_URL": f"redis://{HOST}:{REDIS_PORT}/{REDIS_DB}",
    "CELERY_BROKER_URL": BROKER_URL,
    "CELERY_DEFAULT_QUEUE": QUEUE,
    # Plugin zips live on S3 in production; nothing on the checkout path reads or writes them.
    "DEPOT_STORAGE": "filesystem",
    "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdefghijkl",
    "DJANGO_ALLOWED_HOSTS": f"{HOST},localhost",
    "LICENSE_KEY_HMAC_SECRET": "bench-only-license-hmac-secret",
    # base64 of 32 bytes
    "LICENSE_KEY_ENCRYPTION_KEY": "YmVuY2gtb25seS1saWNlbnNlLWVuY3J5cHRpb24ta2U=",
    "EMAIL_HOST": HOST,
    "EMAIL_PORT": str(PORT_SMTP),
    "DJANGO_DEFAULT_FROM_EMAIL": "Depot Bench <store@bench.example.com>",
    "DEPOT_STORE_BASE_URL": f"https://{HOST}:{PORT_WEB}",
    "DEPOT_PAYMENT_GATEWAY": "test",
    "DJANGO_LOG_LEVEL": "WARNING",
    # Production serves /metrics only to a scraper that presents this token.
    "DEPOT_METRICS_TOKEN": "bench-only-metrics-token",
}
MODES = {
    "celery": "Celery worker",
    "eager": "inline (eager)",
}
CARD = {"card_number": "4242424242424242", "card_expiry": "12/30", "card_cvc": "123"}
SQL_SAMPLE = 5


# --- processes -------------------------------------------------------------------------------


class Proc:
    """A process we started in its own session; stopped through its own process-group id."""

    def __init__(self, name: str, cmd: list[str], *, env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        if not self.alive():
            raise SystemExit(f"{self.name} exited ({self.proc.returncode}); see {self.log_path}")

    def cpu_seconds(self) -> float:
        """CPU time of every process in the group (reaped children are in cutime/cstime)."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()
            if int(fields[2]) == self.proc.pid:  # pgrp
                total += sum(int(f) for f in fields[11:15]) / tick
        return total

    def stop(self) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.log.close()


def wait_port(proc: Proc, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.check()
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{proc.name} did not listen on {port} within {timeout:.0f} s")


def wait_healthz(proc: Proc, port: int, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.check()
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{proc.name} did not answer /healthz; see {proc.log_path}")


def wait_log(proc: Proc, needle: bytes, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.check()
        if needle in proc.log_path.read_bytes():
            return
        time.sleep(0.2)
    raise SystemExit(f"{proc.name} not ready within {timeout:.0f} s; see {proc.log_path}")


def server_env(mode: str, workdir: Path) -> dict[str, str]:
    env = {**os.environ, **ENV, "DJANGO_MEDIA_ROOT": str(workdir / "media")}
    if mode == "eager":
        # What the issue asks for; production.py pins the setting to False, so the settings
        # module below (production plus this one switch) is what actually turns it on.
        env["CELERY_TASK_ALWAYS_EAGER"] = "true"
        env["DJANGO_SETTINGS_MODULE"] = "bench.checkout.eager_settings"
    else:
        env["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    return env


def start_web(mode: str, workdir: Path, workers: int) -> Proc:
    env = server_env(mode, workdir)
    multiproc = workdir / f"prometheus-{mode}"
    env.update(
        GUNICORN_BIND=f"{HOST}:{PORT_WEB}",
        GUNICORN_WORKERS=str(workers),
        # /metrics sums the workers' counters (the SQL count per request comes from there).
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    cmd = [
        str(VENV_BIN / "gunicorn"),
        "config.wsgi",
        "-c",
        str(ROOT / "deploy" / "gunicorn" / "web.conf.py"),
    ]
    return Proc(f"web-{mode}", cmd, env=env, logdir=workdir)


def start_worker(workdir: Path, pool: str, concurrency: int) -> Proc:
    env = server_env("celery", workdir)
    cmd = [
        str(VENV_BIN / "celery"),
        "-A",
        "config",
        "worker",
        "-Q",
        QUEUE,
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "-n",
        f"bench-checkout-{os.getpid()}@%h",
        "-l",
        "info",
        # Other workers may share this RabbitMQ (the test suite's); do not talk to them.
        "--without-gossip",
        "--without-mingle",
    ]
    return Proc("worker", cmd, env=env, logdir=workdir)


def start_beat(workdir: Path) -> Proc:
    env = server_env("celery", workdir)
    cmd = [
        str(VENV_BIN / "celery"),
        "-A",
        "config",
        "beat",
        "-s",
        str(workdir / "beat-schedule"),
        "-l",
        "info",
    ]
    return Proc("beat", cmd, env=env, logdir=workdir)


TASK_DONE_RE = re.compile(r"Task ([\w.]+)\[[0-9a-f-]+\] succeeded in ([0-9.e-]+)s")


def worker_log_summary(path: Path) -> list[str]:
    """Tasks the worker ran (from its info log): how many of each and how long they took."""
    text = path.read_text(errors="replace") if path.exists() else ""
    runtimes: dict[str, list[float]] = {}
    for name, seconds in TASK_DONE_RE.findall(text):
        runtimes.setdefault(name, []).append(float(seconds) * 1000)
    lines = [f"  {'task':<44} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"]
    for name, values in sorted(runtimes.items()):
        s = summary(values)
        lines.append(
            f"  {name:<44} {len(values):>5} {fmt(s['p50'], 8)} {fmt(s['p95'], 8)} "
            f"{fmt(s['max'], 8)}"
        )
    failed = len(re.findall(r"Task [\w.]+\[[0-9a-f-]+\] (?:raised|retry)", text))
    lost = text.count("Connection to broker lost")
    if failed:
        lines.append(f"  {failed} task runs raised or were retried (see the worker log)")
    if lost:
        lines.append(
            f"  WARNING: the worker lost the broker {lost} time(s) (RabbitMQ stopped or "
            "restarted by someone else?): unacknowledged tasks ran again"
        )
    return lines


# --- services ------------------------------------------------------------------------------


def mysql_connect(database: str | None = None) -> Any:
    import MySQLdb

    kwargs: dict[str, Any] = {"host": HOST, "port": DB_PORT, "user": "root", "passwd": ""}
    if database:
        kwargs["db"] = database
    conn = MySQLdb.connect(**kwargs)
    conn.autocommit(True)
    return conn


def queue_purge() -> int:
    from kombu import Connection

    with Connection(BROKER_URL, connect_timeout=3) as conn:
        channel = conn.channel()
        try:
            return int(channel.queue_purge(QUEUE) or 0)
        except conn.channel_errors:  # never declared yet
            return 0


def queue_ready() -> int:
    """Messages waiting in the queue (not counting the ones a worker holds)."""
    from kombu import Connection

    with Connection(BROKER_URL, connect_timeout=3) as conn:
        try:
            return int(conn.channel().queue_declare(QUEUE, passive=True).message_count)
        except conn.channel_errors:
            return 0


def prerequisites() -> None:
    missing = []
    for module, hint in (
        ("MySQLdb", "requirements/mysql.txt"),
        ("redis", "requirements/base.txt"),
        ("aiosmtpd", "requirements/bench.txt"),
    ):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"{module} ({hint})")
    if missing:
        raise SystemExit(f"missing Python packages: {', '.join(missing)}; pip install -r ...")
    for name, port in (("MariaDB", DB_PORT), ("Redis", REDIS_PORT), ("RabbitMQ", 5672)):
        for attempt in range(5):
            try:
                socket.create_connection((HOST, port), timeout=2).close()
                break
            except OSError as exc:
                if attempt == 4:
                    raise SystemExit(
                        f"bench-checkout needs {name} on {HOST}:{port}: {exc}"
                    ) from exc
                time.sleep(2)
    for port in (PORT_WEB, PORT_SMTP):
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                raise SystemExit(f"port {port} is in use (a previous run still going?)")


def prepare(workdir: Path, schema: str) -> dict[str, Any]:
    import redis

    started = time.monotonic()
    db = mysql_connect()
    cur = db.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{DB_NAME}`")
    cur.execute(f"CREATE DATABASE `{DB_NAME}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    db.close()
    redis.Redis(host=HOST, port=REDIS_PORT, db=REDIS_DB).flushdb()
    purged = queue_purge()
    # Seeding announces ProductChanged; keep those messages off RabbitMQ.
    env = {**server_env("celery", workdir), "CELERY_BROKER_URL": "memory://"}
    if schema == "models":
        cmd = [PYTHON, str(HERE / "django_side.py"), "schema"]
    else:
        cmd = [PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"]
    if subprocess.run(cmd, cwd=ROOT, env=env).returncode != 0:
        raise SystemExit(
            "building the schema failed (above); if the migration graph is what is broken, "
            "--schema models builds the tables from the models as the test suite does"
        )
    out = workdir / "shop.json"
    subprocess.run(
        [PYTHON, str(HERE / "django_side.py"), "seed", str(out)], cwd=ROOT, env=env, check=True
    )
    print(
        f"prepared {DB_NAME}, Redis db {REDIS_DB} flushed, queue {QUEUE} purged "
        f"({purged} messages), in {time.monotonic() - started:.1f} s"
    )
    return json.loads(out.read_text())


# --- the customer ----------------------------------------------------------------------------


class Browser:
    """One guest: its own keep-alive connection and cookie jar.

    Requests carry X-Forwarded-Proto: https as the TLS proxy in front would, so Django sees
    HTTPS: its Secure cookies come back and CSRF checks the Origin as in production.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        headers = {
            "Host": f"{HOST}:{self.port}",
            "X-Forwarded-Proto": "https",
            "User-Agent": "depot-bench-checkout",
            "Accept": "text/html",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"https://{HOST}:{self.port}"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for raw in response.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response.status, response.headers.get("Location", ""), text

    def close(self) -> None:
        self.conn.close()


CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TOKEN_RE = re.compile(r'name="checkout_token" value="([^"]+)"')
ORDER_RE = re.compile(r"^/orders/([A-Z0-9-]+)/\?key=")


@dataclass
class Placed:
    email: str
    phase: str
    ok: bool = False
    error: str = ""
    number: str = ""
    # Unix time the POST was sent: the start for "license after" and "receipt after".
    sent_at: float = 0.0
    post_ms: float = 0.0
    get_ms: float = 0.0
    total_ms: float = 0.0
    key_shown: bool = False
    sql: dict[str, float] = field(default_factory=dict)


def _found(pattern: re.Pattern[str], text: str, what: str) -> str:
    match = pattern.search(text)
    if not match:
        raise RuntimeError(f"no {what} in the page")
    return match.group(1)


def place_order(
    port: int,
    shop: dict[str, Any],
    email: str,
    phase: str,
    sql_counter: Callable[[], float] | None = None,
) -> Placed:
    """One guest buys one tier; only the POST /checkout/ and the GET it redirects to are timed."""
    placed = Placed(email=email, phase=phase)
    browser = Browser(port)
    marks: list[tuple[str, float]] = []

    def mark(step: str) -> None:
        if sql_counter is not None:
            marks.append((step, sql_counter()))

    try:
        mark("")
        status, _, page = browser.request("GET", f"/plugins/{shop['slug']}/")
        if status != 200:
            raise RuntimeError(f"plugin page answered {status}")
        mark("plugin page")
        csrf = _found(CSRF_RE, page, "CSRF token")
        status, _, _ = browser.request(
            "POST", "/cart/add/", {"csrfmiddlewaretoken": csrf, "tier": str(shop["tier"])}
        )
        if status != 302:
            raise RuntimeError(f"cart add answered {status}")
        mark("cart add")
        status, _, page = browser.request("GET", "/checkout/")
        if status != 200:
            raise RuntimeError(f"checkout page answered {status}")
        mark("checkout page")
        form = {
            "csrfmiddlewaretoken": _found(CSRF_RE, page, "CSRF token"),
            "checkout_token": _found(TOKEN_RE, page, "checkout token"),
            "email": email,
            "name": "Bench Buyer",
            "country": "GB",
            **CARD,
        }
        placed.sent_at = time.time()
        started = time.perf_counter()
        status, location, page = browser.request("POST", "/checkout/", form)
        posted = time.perf_counter()
        if status != 303:
            raise RuntimeError(f"checkout POST answered {status}: {page[:300]!r}")
        placed.number = _found(ORDER_RE, location, "order number in the redirect")
        mark("checkout POST")  # only when counting SQL, never in a timed order
        resumed = time.perf_counter()
        status, _, page = browser.request("GET", location)
        done = time.perf_counter()
        if status != 200 or placed.number not in page:
            raise RuntimeError(f"confirmation answered {status}")
        mark("confirmation GET")
        placed.post_ms = (posted - started) * 1000
        placed.get_ms = (done - resumed) * 1000
        placed.total_ms = placed.post_ms + placed.get_ms
        placed.key_shown = "license-key" in page
        placed.ok = True
    except (OSError, http.client.HTTPException, RuntimeError) as exc:
        placed.error = f"{type(exc).__name__}: {exc}"
    finally:
        browser.close()
    for (_, before), (step, after) in itertools.pairwise(marks):
        placed.sql[step] = after - before
    return placed


def metrics_sql_counter(port: int) -> Callable[[], float]:
    """Return a function reading the servers' total SQL statements from /metrics."""
    pattern = re.compile(r"^django_db_execute(?:_many)?_total\{[^}]*\} ([0-9.e+]+)$", re.M)

    def read() -> float:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        try:
            conn.request(
                "GET",
                "/metrics",
                headers={
                    "Host": f"{HOST}:{port}",
                    "Authorization": f"Bearer {ENV['DEPOT_METRICS_TOKEN']}",
                },
            )
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        return sum(float(v) for v in pattern.findall(text))

    return read


# --- statistics ------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "mean": sum(values) / len(values) if values else float("nan"),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
    }


def machine_busy_seconds() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


SERVICES = ("mariadbd", "mysqld", "redis-server", "beam.smp")


def service_pids() -> list[int]:
    """MariaDB, Redis and RabbitMQ: used by the bench, but shared with whoever else runs."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() in SERVICES:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def pid_cpu_seconds(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Usage:
    """CPU seconds of the machine, of the bench's own processes and of the shared services."""

    def __init__(self, procs: list[Proc]) -> None:
        self.procs = procs
        self.services = service_pids()
        self.start = self.sample()

    def sample(self) -> dict[str, float]:
        return {
            "busy": machine_busy_seconds(),
            "ours": sum(p.cpu_seconds() for p in self.procs if p.alive()) + client_cpu_seconds(),
            "services": sum(pid_cpu_seconds(pid) for pid in self.services),
        }

    def others_pct(self, wall: float) -> float:
        """CPU taken by every other process since the start, as a share of all cores."""
        end = self.sample()
        others = (end["busy"] - self.start["busy"]) - (end["ours"] - self.start["ours"])
        others -= end["services"] - self.start["services"]
        return max(0.0, 100 * others / (wall * (os.cpu_count() or 1)))


def wait_quiet(limit: float, threshold: float = 15.0) -> float:
    """Wait (up to `limit` s) for 5 s in which other processes use < `threshold` % of the CPU."""
    deadline = time.monotonic() + limit
    while True:
        usage = Usage([])
        time.sleep(5)
        others = usage.others_pct(5)
        if others < threshold or time.monotonic() >= deadline:
            return others


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Phase:
    mode: str
    name: str
    concurrency: int
    placed: list[Placed]
    wall_s: float
    web_cpu_s: float
    worker_cpu_s: float
    client_cpu_s: float
    machine_busy_pct: float
    others_pct: float

    @property
    def good(self) -> list[Placed]:
        return [p for p in self.placed if p.ok]


def run_phase(
    mode: str,
    name: str,
    emails: list[str],
    *,
    concurrency: int,
    shop: dict[str, Any],
    web: Proc,
    worker: Proc | None,
    procs: list[Proc],
) -> Phase:
    cpu0 = (web.cpu_seconds(), worker.cpu_seconds() if worker else 0.0, client_cpu_seconds())
    usage = Usage(procs)
    busy0, started = machine_busy_seconds(), time.monotonic()
    if concurrency <= 1:
        placed = [place_order(PORT_WEB, shop, email, name) for email in emails]
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            placed = list(pool.map(lambda e: place_order(PORT_WEB, shop, e, name), emails))
    wall = time.monotonic() - started
    busy = machine_busy_seconds() - busy0
    others = usage.others_pct(wall)
    cpu1 = (web.cpu_seconds(), worker.cpu_seconds() if worker else 0.0, client_cpu_seconds())
    return Phase(
        mode=mode,
        name=name,
        concurrency=max(concurrency, 1),
        placed=placed,
        wall_s=wall,
        web_cpu_s=cpu1[0] - cpu0[0],
        worker_cpu_s=cpu1[1] - cpu0[1],
        client_cpu_s=cpu1[2] - cpu0[2],
        machine_busy_pct=100 * busy / (wall * (os.cpu_count() or 1)),
        others_pct=others,
    )


def sql_per_request(mode: str, shop: dict[str, Any], count: int) -> dict[str, float]:
    """SQL statements per request of the flow: /metrics read around each request of a few
    orders placed one by one (only the bench talks to the server then; the worker keeps its
    own counters, so the Celery mode counts the web side alone)."""
    read = metrics_sql_counter(PORT_WEB)
    totals: Counter[str] = Counter()
    for n in range(count):
        placed = place_order(
            PORT_WEB, shop, f"bench+{mode}-sql-{n}@example.com", "sql", sql_counter=read
        )
        if not placed.ok:
            raise SystemExit(f"SQL sample order failed: {placed.error}")
        totals.update(placed.sql)
    return {step: value / count for step, value in totals.items()}


# --- after the response ----------------------------------------------------------------------


def sink_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sink_count(path: Path, prefix: str) -> int:
    return sum(
        1 for r in sink_records(path) if any(to.startswith(prefix) for to in r.get("rcpt", []))
    )


def drain(prefix: str, expected: int, sink_log: Path, timeout: float, settle: float) -> str:
    """Wait for the worker to finish the mode's orders and e-mails; say how it ended."""
    db = mysql_connect(DB_NAME)
    cur = db.cursor()
    started = last_report = time.monotonic()
    last_sink, last_change = -1, started
    try:
        while True:
            cur.execute(
                "SELECT COUNT(*) FROM store_order WHERE email LIKE %s AND fulfilled_at IS NOT NULL",
                (prefix + "%",),
            )
            fulfilled = int(cur.fetchone()[0])
            cur.execute("SELECT COUNT(*) FROM core_outboxevent WHERE dispatched_at IS NULL")
            undispatched = int(cur.fetchone()[0])
            ready = queue_ready()
            sent = sink_count(sink_log, prefix)
            now = time.monotonic()
            if sent != last_sink:
                last_sink, last_change = sent, now
            if fulfilled >= expected and sent >= expected:
                return f"every order fulfilled and {sent} messages at the sink"
            if (
                fulfilled >= expected
                and undispatched == 0
                and ready == 0
                and now - last_change >= settle
            ):
                return (
                    f"settled: every order fulfilled, outbox and queue empty, {sent} messages "
                    f"at the sink ({settle:.0f} s without a new one)"
                )
            if now - started > timeout:
                return (
                    f"TIMED OUT after {timeout:.0f} s: {fulfilled}/{expected} fulfilled, "
                    f"{undispatched} outbox rows undelivered, {ready} messages queued, "
                    f"{sent} at the sink"
                )
            if now - last_report >= 15:
                last_report = now
                print(
                    f"  draining: {fulfilled}/{expected} fulfilled, {undispatched} outbox rows "
                    f"undelivered, {ready} queued, {sent} messages at the sink "
                    f"({now - started:.0f} s)",
                    flush=True,
                )
            time.sleep(1.0)
    finally:
        db.close()


def order_facts(prefix: str, workdir: Path, mode: str) -> dict[str, dict[str, Any]]:
    out = workdir / f"orders-{mode}.json"
    subprocess.run(
        [PYTHON, str(HERE / "django_side.py"), "orders", prefix, str(out)],
        cwd=ROOT,
        env=server_env(mode, workdir),
        check=True,
    )
    return {row["number"]: row for row in json.loads(out.read_text())}


# --- reporting -------------------------------------------------------------------------------


def fmt(value: float, width: int = 7, digits: int = 1) -> str:
    if value != value:  # nan
        return f"{'-':>{width}}"
    return f"{value:>{width}.{digits}f}"


def latency_table(phases: list[Phase], sql: dict[str, dict[str, float]]) -> list[str]:
    head = (
        f"{'mode':<16} {'conc':>4} {'orders':>6} {'err':>3} {'mean':>7} {'p50':>7} {'p95':>7} "
        f"{'p99':>7} {'max':>7} {'POST p50':>8} {'GET p50':>7} {'orders/s':>8} "
        f"{'SQL POST':>8} {'SQL GET':>7} {'web CPU':>7} {'wrk CPU':>7} {'busy%':>5} {'others%':>7}"
    )
    lines = [head, "-" * len(head)]
    for phase in phases:
        good = phase.good
        total = summary([p.total_ms for p in good])
        n = len(phase.placed)
        q = sql.get(phase.mode, {})
        lines.append(
            f"{MODES[phase.mode]:<16} {phase.concurrency:>4} {len(good):>6} "
            f"{n - len(good):>3} {fmt(total['mean'])} {fmt(total['p50'])} {fmt(total['p95'])} "
            f"{fmt(total['p99'])} {fmt(total['max'])} "
            f"{fmt(percentile([p.post_ms for p in good], 50), 8)} "
            f"{fmt(percentile([p.get_ms for p in good], 50))} "
            f"{fmt(n / phase.wall_s, 8, 2)} "
            f"{fmt(q.get('checkout POST', float('nan')), 8)} "
            f"{fmt(q.get('confirmation GET', float('nan')))} "
            f"{fmt(1000 * phase.web_cpu_s / n, 7, 0)} "
            f"{fmt(1000 * phase.worker_cpu_s / n, 7, 0)} {fmt(phase.machine_busy_pct, 5, 0)} "
            f"{fmt(phase.others_pct, 7, 0)}"
        )
    return lines


def after_response(
    phase: Phase, facts: dict[str, dict[str, Any]], messages: list[dict[str, Any]]
) -> list[str]:
    """Seconds from sending the POST to each later step, per order of `phase`."""
    first_message: dict[str, dict[str, Any]] = {}
    per_order: Counter[str] = Counter()
    for record in sorted(messages, key=lambda r: r["received"]):
        for to in record.get("rcpt", []):
            per_order[to] += 1
            first_message.setdefault(to, record)
    series: dict[str, list[float]] = {
        "response (POST + GET)": [],
        "order paid (in the POST)": [],
        "license issued": [],
        "first e-mail DATA at the sink": [],
        "first e-mail accepted (250)": [],
    }
    for p in phase.good:
        series["response (POST + GET)"].append(p.total_ms)
        fact = facts.get(p.number, {})
        if fact.get("paid"):
            series["order paid (in the POST)"].append((fact["paid"] - p.sent_at) * 1000)
        if fact.get("license"):
            series["license issued"].append((fact["license"] - p.sent_at) * 1000)
        message = first_message.get(p.email)
        if message:
            series["first e-mail DATA at the sink"].append((message["received"] - p.sent_at) * 1000)
            series["first e-mail accepted (250)"].append((message["answered"] - p.sent_at) * 1000)
    head = f"  {'ms after the POST was sent':<32} {'n':>4} {'p50':>9} {'p95':>9} {'max':>9}"
    lines = [head]
    for name, values in series.items():
        s = summary(values)
        lines.append(
            f"  {name:<32} {len(values):>4} {fmt(s['p50'], 9)} {fmt(s['p95'], 9)} "
            f"{fmt(s['max'], 9)}"
        )
    orders = len(phase.good)
    with_mail = sum(1 for p in phase.good if per_order[p.email])
    total_mail = sum(per_order[p.email] for p in phase.good)
    keys = sum(1 for p in phase.good if p.key_shown)
    lines.append(
        f"  e-mails at the sink for these {orders} orders: {total_mail} "
        f"({with_mail} orders got at least one); keys already on the first confirmation "
        f"page: {keys}/{orders}"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200, help="measured orders per mode")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured orders per mode first")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="clients of the second table (0 skips it); the first is sequential",
    )
    parser.add_argument(
        "--concurrent-orders",
        type=int,
        default=100,
        help="measured orders per mode in the concurrent table",
    )
    parser.add_argument("--smtp-delay", type=float, default=2.0, help="seconds before DATA's 250")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (both modes)")
    parser.add_argument("--worker-pool", default="prefork", help="Celery pool: prefork, solo…")
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=2,
        help="Celery worker processes/threads (default: 2, what `celery worker` runs on 2 cores)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=0,
        help="seconds to wait for the worker after the Celery mode (default: from the load)",
    )
    parser.add_argument("--modes", default="celery,eager", help="modes to run, in this order")
    parser.add_argument(
        "--beat",
        action="store_true",
        help="also run celery beat in the Celery mode (its outbox sweeper re-sends rows "
        "not delivered within 30 s)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        help="first wait up to this many seconds for other processes to leave the CPU idle",
    )
    parser.add_argument(
        "--schema",
        choices=("migrate", "models"),
        default="migrate",
        help="build the database with the migrations (as deployed) or straight from the "
        "models (as the test suite's --no-migrations does)",
    )
    parser.add_argument(
        "--workdir", default=str(Path(tempfile.gettempdir()) / "depot-bench-checkout")
    )
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if unknown := set(modes) - set(MODES):
        raise SystemExit(f"unknown modes {unknown}; choose from {', '.join(MODES)}")

    prerequisites()
    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    sink_log = workdir / "smtp-messages.jsonl"
    started = time.monotonic()
    # SIGTERM and SIGINT (also when a shell started the bench in the background, where
    # SIGINT arrives ignored) end the run through the finally block that stops everything.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(
        f"bench/checkout: {args.orders} orders per mode after {args.warmup} warm-up orders, "
        f"SMTP answering DATA after {args.smtp_delay:g} s, gunicorn {args.web_workers} workers "
        f"(deploy/gunicorn/web.conf.py), Celery worker {args.worker_pool} x "
        f"{args.worker_concurrency}{' + beat' if args.beat else ''}; {os.cpu_count()} cores "
        "shared by the client, the servers, "
        f"MariaDB, Redis and RabbitMQ; logs in {workdir}",
        flush=True,
    )
    if args.wait_quiet:
        print(f"waiting up to {args.wait_quiet:.0f} s for a quiet machine", flush=True)
    others = wait_quiet(args.wait_quiet)
    print(
        f"other processes used {others:.0f}% of the CPU just before the start"
        + (" (busy: expect slower figures than on a quiet machine)" if others >= 15 else ""),
        flush=True,
    )
    procs: list[Proc] = []
    phases: list[Phase] = []
    sql: dict[str, dict[str, float]] = {}
    facts: dict[str, dict[str, dict[str, Any]]] = {}
    drained: dict[str, str] = {}
    try:
        shop = prepare(workdir, args.schema)
        sink = Proc(
            "smtp-sink",
            [
                PYTHON,
                str(HERE / "smtp_sink.py"),
                "--port",
                str(PORT_SMTP),
                "--delay",
                str(args.smtp_delay),
                "--log",
                str(sink_log),
            ],
            env=dict(os.environ),
            logdir=workdir,
        )
        procs.append(sink)
        wait_port(sink, PORT_SMTP)
        for mode in modes:
            print(f"\n== {MODES[mode]} ==", flush=True)
            worker = None
            if mode == "celery":
                worker = start_worker(workdir, args.worker_pool, args.worker_concurrency)
                procs.append(worker)
                wait_log(worker, b" ready.")
                if args.beat:
                    beat = start_beat(workdir)
                    procs.append(beat)
                    wait_log(beat, b"beat: Starting")
            web = start_web(mode, workdir, args.web_workers)
            procs.append(web)
            wait_healthz(web, PORT_WEB)
            prefix = f"bench+{mode}-"
            placed_count = 0

            def emails(phase: str, count: int, prefix: str = prefix) -> list[str]:
                return [f"{prefix}{phase}-{n}@example.com" for n in range(count)]

            warm = run_phase(
                mode,
                "warm",
                emails("warm", args.warmup),
                concurrency=1,
                shop=shop,
                web=web,
                worker=worker,
                procs=procs,
            )
            placed_count += len(warm.placed)
            if errors := [p.error for p in warm.placed if not p.ok]:
                raise SystemExit(f"warm-up orders failed: {errors[:3]}; see {web.log_path}")
            phase = run_phase(
                mode,
                "seq",
                emails("seq", args.orders),
                concurrency=1,
                shop=shop,
                web=web,
                worker=worker,
                procs=procs,
            )
            phases.append(phase)
            placed_count += len(phase.placed)
            print(
                f"  sequential: {len(phase.good)}/{len(phase.placed)} orders, "
                f"p50 {percentile([p.total_ms for p in phase.good], 50):.1f} ms, "
                f"p95 {percentile([p.total_ms for p in phase.good], 95):.1f} ms, "
                f"{phase.wall_s:.1f} s, others {phase.others_pct:.0f}%",
                flush=True,
            )
            if args.concurrency > 1 and args.concurrent_orders > 0:
                phase = run_phase(
                    mode,
                    f"c{args.concurrency}",
                    emails(f"c{args.concurrency}", args.concurrent_orders),
                    concurrency=args.concurrency,
                    shop=shop,
                    web=web,
                    worker=worker,
                    procs=procs,
                )
                phases.append(phase)
                placed_count += len(phase.placed)
                print(
                    f"  {args.concurrency} clients: {len(phase.good)}/{len(phase.placed)} "
                    f"orders, p50 {percentile([p.total_ms for p in phase.good], 50):.1f} ms, "
                    f"p95 {percentile([p.total_ms for p in phase.good], 95):.1f} ms, "
                    f"{phase.wall_s:.1f} s, others {phase.others_pct:.0f}%",
                    flush=True,
                )
            sql[mode] = sql_per_request(mode, shop, SQL_SAMPLE)
            placed_count += SQL_SAMPLE
            for p in (q for ph in phases if ph.mode == mode for q in ph.placed if not q.ok):
                print(f"  ERROR {p.phase} {p.email}: {p.error}")
            if worker is not None:
                timeout = args.drain_timeout or (
                    60 + 1.5 * placed_count * args.smtp_delay / max(args.worker_concurrency, 1)
                )
                drained[mode] = drain(
                    prefix, placed_count, sink_log, timeout, settle=args.smtp_delay + 5
                )
                print(f"  worker: {drained[mode]}", flush=True)
            web.stop()
            for proc in procs:
                if proc.name in ("worker", "beat"):
                    proc.stop()
            facts[mode] = order_facts(prefix, workdir, mode)
    finally:
        for proc in reversed(procs):
            proc.stop()

    messages = sink_records(sink_log)
    report = [
        "== checkout: POST /checkout/ -> 303 -> GET /orders/<number>/, timed together (ms) ==",
        "conc: clients placing orders at once; SQL POST / SQL GET: statements per request from "
        f"/metrics (mean of {SQL_SAMPLE} orders); web CPU / wrk CPU: CPU ms per order of "
        "gunicorn / the Celery worker (whole flow incl. setup); busy%: all cores during the run; "
        "others%: CPU of processes that are neither the bench's nor MariaDB, Redis, RabbitMQ",
        *latency_table(phases, sql),
        *(
            f"SQL statements per request, {MODES[mode]}: "
            + ", ".join(f"{step} {count:.1f}" for step, count in steps.items())
            for mode, steps in sql.items()
        ),
        "",
        "== ratios (inline / Celery) ==",
    ]
    by = {(ph.mode, ph.concurrency): ph for ph in phases}
    for conc in sorted({ph.concurrency for ph in phases}):
        celery, eager = by.get(("celery", conc)), by.get(("eager", conc))
        if celery and eager and celery.good and eager.good:
            c = summary([p.total_ms for p in celery.good])
            e = summary([p.total_ms for p in eager.good])
            report.append(
                f"{conc} client(s): p50 {e['p50'] / c['p50']:.1f}x, "
                f"p95 {e['p95'] / c['p95']:.1f}x, "
                f"mean {e['mean'] / c['mean']:.1f}x; orders/s "
                f"{len(celery.placed) / celery.wall_s / (len(eager.placed) / eager.wall_s):.1f}x "
                "more with Celery"
            )
    seq = by.get(("celery", 1))
    if seq and seq.good:
        p95 = percentile([p.total_ms for p in seq.good], 95)
        verdict = "MET" if p95 < TARGET_P95_MS else "NOT MET"
        report.append(
            f"target p95 < {TARGET_P95_MS:.0f} ms (Celery mode, sequential): {verdict} "
            f"(p95 {p95:.1f} ms)"
        )
    for mode in modes:
        prefix = f"bench+{mode}-"
        mine = [m for m in messages if any(to.startswith(prefix) for to in m.get("rcpt", []))]
        report += ["", f"== after the response: {MODES[mode]} =="]
        for phase in (ph for ph in phases if ph.mode == mode):
            report.append(f" {phase.name} ({phase.concurrency} client(s)):")
            report += after_response(phase, facts.get(mode, {}), mine)
        subjects = Counter(re.sub(r"D-[A-Z0-9]+", "<number>", m.get("subject", "")) for m in mine)
        report.append(
            f" the sink received {len(mine)} messages for this mode's orders (warm-up and SQL "
            f"sample included)"
            + (": " + "; ".join(f"{n} x {s!r}" for s, n in subjects.most_common()) if mine else "")
        )
        if mode in drained:
            report.append(f" worker drain: {drained[mode]}")
            report.append(" tasks the worker ran (its log; warm-up and SQL sample included):")
            report += worker_log_summary(workdir / "worker.log")
    print("\n" + "\n".join(report))
    (workdir / "results.txt").write_text("\n".join(report) + "\n")
    (workdir / "results.json").write_text(
        json.dumps(
            {
                "args": vars(args),
                "phases": [
                    {
                        **{k: v for k, v in ph.__dict__.items() if k != "placed"},
                        "placed": [p.__dict__ for p in ph.placed],
                    }
                    for ph in phases
                ],
                "sql": sql,
            },
            indent=1,
        )
    )
    print(f"\nfinished in {time.monotonic() - started:.0f} s; results in {workdir}/results.*")


if __name__ == "__main__":
    main()
