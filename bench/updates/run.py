"""bench/updates: the update API under real servers on MariaDB + Redis, driven by wrk.

    make bench-updates            # or: .venv/bin/python bench/updates/run.py
    .venv/bin/python bench/updates/run.py --duration 5 --configs gthread-2x4,granian-2x4

Prints figures and ratios; asserts nothing about timings. See bench/updates/README.md.
It drops and recreates the MariaDB database `depot_bench` and flushes Redis db 5, and
touches nothing else (the test suite's test_depot* databases and Redis dbs 9-13 are safe).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable

DB_NAME = "depot_bench"
DB_HOST, DB_PORT = "127.0.0.1", 3306
REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 5
PORT_UPDATES, PORT_WEB = 18401, 18402
CONNECTIONS, THREADS = 64, 2
WP_VERSION = "6.7.1"

# Fixed bench-only secrets: the seeded keys and the servers must agree across processes.
ENV = {
    "DATABASE_URL": f"mysql://root:@{DB_HOST}:{DB_PORT}/{DB_NAME}",
    "REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
    "DEPOT_STORAGE": "filesystem",
    "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdefghijkl",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "LICENSE_KEY_HMAC_SECRET": "bench-only-license-hmac-secret",
    # base64 of 32 bytes
    "LICENSE_KEY_ENCRYPTION_KEY": "YmVuY2gtb25seS1saWNlbnNlLWVuY3J5cHRpb24ta2U=",
    "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
    # base64 of a 32-byte Ed25519 seed
    "DEPOT_SIGNING_KEY": "YmVuY2gtb25seS1lZDI1NTE5LXNpZ25pbmctc2VlZCE=",
    "DJANGO_LOG_LEVEL": "WARNING",
    # Every simulated site checks from 127.0.0.1: the per-address limit would refuse the load.
    "DEPOT_UPDATE_RATE_LIMIT": "1000000000",
    "DEPOT_LICENSE_RATE_LIMIT": "1000000000",
}


# --- servers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerConfig:
    name: str
    kind: str  # gunicorn | granian
    workers: int
    worker_class: str = "gthread"  # gunicorn only
    threads: int = 1
    access_log: bool = False

    def label(self) -> str:
        if self.kind == "granian":
            text = f"granian {self.workers}wx{self.threads}bt"
        elif self.worker_class == "sync":
            text = f"gunicorn sync {self.workers}w"
        else:
            text = f"gunicorn gthread {self.workers}wx{self.threads}t"
        return text + (" +accesslog" if self.access_log else "")


CONFIGS = {
    c.name: c
    for c in (
        ServerConfig("sync-2", "gunicorn", 2, "sync"),
        ServerConfig("sync-4", "gunicorn", 4, "sync"),
        ServerConfig("sync-3", "gunicorn", 3, "sync"),
        ServerConfig("gthread-2x1", "gunicorn", 2, "gthread", 1),
        ServerConfig("gthread-2x2", "gunicorn", 2, "gthread", 2),
        ServerConfig("gthread-3x2", "gunicorn", 3, "gthread", 2),
        ServerConfig("gthread-2x4", "gunicorn", 2, "gthread", 4),
        # what deploy/gunicorn/updates.conf.py gave before the bench: 2 x cores + 1 workers
        ServerConfig("gthread-5x4", "gunicorn", 5, "gthread", 4),
        ServerConfig("gthread-2x8", "gunicorn", 2, "gthread", 8),
        ServerConfig("gthread-2x4-log", "gunicorn", 2, "gthread", 4, access_log=True),
        ServerConfig("gthread-2x1-log", "gunicorn", 2, "gthread", 1, access_log=True),
        ServerConfig("granian-2x1", "granian", 2, threads=1),
        ServerConfig("granian-2x2", "granian", 2, threads=2),
        ServerConfig("granian-2x4", "granian", 2, threads=4),
    )
}
DEFAULT_CONFIGS = "sync-2,sync-4,gthread-5x4,gthread-2x4,gthread-2x8,granian-2x1"


class Server:
    """One server process group we started; stopped by its own process-group id."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        role: str,
        port: int,
        logdir: Path,
        root: Path = ROOT,
        tag: str = "",
    ) -> None:
        """Serve `role` from the tree at `root` (another checkout: a baseline) with this venv."""
        self.config, self.role, self.port = config, role, port
        settings = "config.settings.updates" if role == "updates" else "config.settings.production"
        conf = "updates.conf.py" if role == "updates" else "web.conf.py"
        env = {**os.environ, **ENV, "DJANGO_SETTINGS_MODULE": settings, "PYTHONPATH": str(root)}
        if config.kind == "gunicorn":
            env.update(
                GUNICORN_BIND=f"127.0.0.1:{port}",
                GUNICORN_WORKERS=str(config.workers),
                GUNICORN_WORKER_CLASS=config.worker_class,
                GUNICORN_THREADS=str(config.threads),
                # As deployed, the access log goes to stdout (here: the server's log file).
                GUNICORN_ACCESS_LOG="-",
                BENCH_ACCESS_LOG="1" if config.access_log else "0",
                BENCH_GUNICORN_CONF=str(root / "deploy" / "gunicorn" / conf),
            )
            cmd = [str(VENV_BIN / "gunicorn"), "config.wsgi", "-c", str(HERE / "gunicorn_conf.py")]
        else:
            cmd = [
                str(VENV_BIN / "granian"),
                "--interface",
                "wsgi",
                "config.wsgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(config.workers),
                "--blocking-threads",
                str(config.threads),
                "--backlog",
                "2048",
                "--no-ws",
                "--log-level",
                "warning",
            ]
        self.log_path = logdir / f"server-{role}-{config.name}{tag}.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.config.label()} exited; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{self.config.label()} did not answer /healthz; see {self.log_path}")

    def cpu_by_pid(self) -> dict[int, float]:
        """CPU seconds of each process in the server's process group (a reaped worker's time
        is in its parent's cutime/cstime)."""
        found = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()
            if int(fields[2]) == self.proc.pid:  # pgrp
                ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
                found[int(entry)] = ticks / os.sysconf("SC_CLK_TCK")
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


# --- requests and scenarios ------------------------------------------------------------------


def _ua(site_url: str) -> str:
    return f"WordPress/{WP_VERSION}; {site_url}"


def puc_request(slug: str, key: str, site_url: str, installed: str) -> dict[str, Any]:
    query = urllib.parse.urlencode(
        {
            "license_key": key,
            "installed_version": installed,
            "php": "8.2",
            "locale": "en_US",
            "checking_for_updates": "1",
        }
    )
    return {
        "method": "GET",
        "path": f"/updates/puc/{slug}/?{query}",
        "headers": {"User-Agent": _ua(site_url)},
        "body": None,
    }


def _edd_form(lic: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """A form POST to /updates/edd/ from the license's site, as EDD's clients send it."""
    return {
        "method": "POST",
        "path": "/updates/edd/",
        "headers": {
            "User-Agent": _ua(lic["site_url"]),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        "body": urllib.parse.urlencode(fields),
    }


def edd_request(lic: dict[str, Any], installed: str) -> dict[str, Any]:
    return _edd_form(
        lic,
        {
            "edd_action": "get_version",
            "license": lic["key"],
            "item_id": lic["item_id"],
            "version": installed,
            "slug": lic["slug"],
            "author": "Bench Vendor",
            "url": lic["site_url"],
            "beta": "",
            "php_version": "8.2.12",
            "wp_version": WP_VERSION,
        },
    )


def native_request(site: dict[str, Any], fx: dict[str, Any]) -> dict[str, Any]:
    plugins = {
        plugin_file: {"Name": plugin_file.partition("/")[0], "Version": fx["installed"]}
        for plugin_file in site["licenses"]
    }
    for plugin_file in fx["third_party"]:
        plugins[plugin_file] = {"Name": plugin_file.partition("/")[0], "Version": "5.0"}
    body = json.dumps(
        {
            "plugins": plugins,
            "active": list(plugins),
            "locale": ["en_US"],
            "php_version": "8.2.12",
            "licenses": site["licenses"],
        },
        separators=(",", ":"),
    )
    return {
        "method": "POST",
        "path": "/updates/v1/check",
        "headers": {"User-Agent": _ua(site["site_url"]), "Content-Type": "application/json"},
        "body": body,
    }


def edd_check_request(lic: dict[str, Any]) -> dict[str, Any]:
    """EDD `check_license` as EDD's sample plugin sends it from its settings screen."""
    return _edd_form(
        lic,
        {
            "edd_action": "check_license",
            "license": lic["key"],
            "item_id": lic["item_id"],
            "url": lic["site_url"],
            "environment": "production",
        },
    )


HEALTHZ = {"method": "GET", "path": "/healthz", "headers": {}, "body": None}

SCENARIOS = {
    "puc-1key": "(a) PUC check, valid activated key, 1 key (warmest case)",
    "puc": "(a) PUC check, valid activated keys, 1,000 keys x 200 sites rotated",
    "edd": "(b) EDD get_version (POST form), 1,000 keys rotated",
    "native": "(c) native v1 batch of 10 plugins (5 licensed + 5 not ours), 200 sites",
    "puc-unknown": "(d) PUC check, unknown keys (1,000 rotated)",
    "healthz": "(f) /healthz baseline (no backing service)",
}


def build_scenarios(fx: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    installed = fx["installed"]
    rotate = fx["licenses"][: fx["rotate"]]
    first = rotate[0]
    return {
        "puc-1key": [puc_request(first["slug"], first["key"], first["site_url"], installed)],
        "puc": [puc_request(x["slug"], x["key"], x["site_url"], installed) for x in rotate],
        "edd": [edd_request(x, installed) for x in rotate],
        "native": [native_request(site, fx) for site in fx["sites"]],
        "puc-unknown": [
            puc_request(x["slug"], key, x["site_url"], installed)
            for key, x in zip(fx["unknown_keys"], rotate, strict=True)
        ],
        "healthz": [HEALTHZ],
    }


def extra_scenarios(fx: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Counted in-process only: cold keys, sites with varied third-party plugins, junk slugs."""
    cold = fx["licenses"][fx["rotate"] :]
    # Real sites run different third-party plugins: 5 of a pool of 2,000 slugs per site.
    diverse = []
    for n, site in enumerate(fx["sites"]):
        pool = [f"other-plugin-{(n * 5 + i) % 2000}/main.php" for i in range(5)]
        diverse.append(native_request(site, {**fx, "third_party": pool}))
    junk_site = fx["sites"][0]
    junk = []
    for n in range(3):
        junk_fx = {**fx, "third_party": [f"junk-{n}-{i}/junk.php" for i in range(195)]}
        junk.append(native_request(junk_site, junk_fx))
    return {
        "cold-license": [
            puc_request(x["slug"], x["key"], x["site_url"], fx["installed"]) for x in cold
        ],
        "native-diverse": diverse * 10,
        "cold-native-200": junk,
    }


def _lua_string(text: str) -> str:
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


LUA_TEMPLATE = """-- generated by bench/updates/run.py: round-robin over preformatted requests
local reqs = {
%(reqs)s
}
local close = %(close)s
local formatted = {}
local counter = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

function init(args)
  for i, r in ipairs(reqs) do
    local h = {}
    for k, v in pairs(r[3]) do h[k] = v end
    if close then h["Connection"] = "close" end
    formatted[i] = wrk.format(r[1], r[2], h, r[4])
  end
  -- threads start apart so that together they cover the rotation
  counter = ((id or 1) - 1) * math.floor(#formatted / 2)
end

function request()
  counter = counter %% #formatted + 1
  return formatted[counter]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50":%%d,"p90":%%d,"p99":%%d,"max":%%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def write_lua(path: Path, requests: list[dict[str, Any]], *, close: bool) -> None:
    rows = []
    for r in requests:
        headers = ", ".join(
            f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in r["headers"].items()
        )
        body = _lua_string(r["body"]) if r["body"] is not None else "nil"
        rows.append(
            f"  {{{_lua_string(r['method'])}, {_lua_string(r['path'])}, {{{headers}}}, {body}}},"
        )
    path.write_text(LUA_TEMPLATE % {"reqs": "\n".join(rows), "close": "true" if close else "false"})


# --- measuring -----------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    role: str
    config: str
    connection: str
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    requests: int = 0
    server_cpu_us: float = 0.0
    client_cpu_us: float = 0.0
    sql_upper: float = 0.0
    redis_upper: float = 0.0
    others_pct: float = 0.0
    busiest_pct: float = 0.0
    redis_cpu_us: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def redis_client() -> Any:
    import redis

    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=5)


def redis_commands_total(r: Any) -> int:
    return int(r.info("stats")["total_commands_processed"])


def mysql_connect(database: str | None = None) -> Any:
    import MySQLdb

    kwargs: dict[str, Any] = {"host": DB_HOST, "port": DB_PORT, "user": "root", "passwd": ""}
    if database:
        kwargs["db"] = database
    return MySQLdb.connect(**kwargs)


def mysql_statements(cur: Any) -> int:
    cur.execute(
        "SHOW GLOBAL STATUS WHERE Variable_name IN "
        "('Com_select','Com_insert','Com_update','Com_delete','Com_replace')"
    )
    return sum(int(v) for _, v in cur.fetchall())


def mysql_bench_connections(cur: Any) -> int:
    cur.execute(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
        " WHERE DB = %s AND ID <> CONNECTION_ID()",
        (DB_NAME,),
    )
    return int(cur.fetchone()[0])


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy (everything but idle and iowait), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    script: Path, port: int, duration: int, server: Server
) -> tuple[dict[str, Any], float, float, int, int]:
    """Run wrk once; return (wrk summary, server CPU s, client CPU s, SQL and Redis deltas).

    The summary also says how busy the machine was with other work (`others_pct`: CPU of
    neither the server, wrk nor Redis, as a share of all cores), since the bench shares its
    two cores with whatever else runs (another engineer's test suite, say).
    """
    r = redis_client()
    db = mysql_connect()
    cur = db.cursor()
    sql_before, redis_before = mysql_statements(cur), redis_commands_total(r)
    redis_pid = int(r.info("server")["process_id"])
    machine_before, redis_cpu_before = machine_busy_seconds(), process_cpu_seconds(redis_pid)
    pids_before = server.cpu_by_pid()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [
        "wrk",
        "-t",
        str(THREADS),
        "-c",
        str(CONNECTIONS),
        "-d",
        f"{duration}s",
        "--timeout",
        "5s",
    ]
    cmd += ["-s", str(script), f"http://127.0.0.1:{port}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    pids_after = server.cpu_by_pid()
    cpu = sum(pids_after.values()) - sum(pids_before.values())
    # How evenly the workers shared the load: the busiest worker's share of the workers' CPU
    # (with 2 workers, 50% is even; near 100% means one worker holds every connection).
    workers = [
        pids_after[pid] - pids_before.get(pid, 0.0) for pid in pids_after if pid != server.proc.pid
    ]
    client_cpu = (usage_after.ru_utime + usage_after.ru_stime) - (
        usage_before.ru_utime + usage_before.ru_stime
    )
    machine = machine_busy_seconds() - machine_before
    redis_cpu = process_cpu_seconds(redis_pid) - redis_cpu_before
    sql = mysql_statements(cur) - sql_before - 1  # less our own SHOW STATUS
    redis_cmds = redis_commands_total(r) - redis_before - 1
    db.close()
    match = re.search(r"^BENCHJSON (\{.*\})$", out.stdout, re.MULTILINE)
    if match is None:
        raise SystemExit(f"wrk gave no summary:\n{out.stdout}\n{out.stderr}")
    summary = json.loads(match.group(1))
    wall = summary["duration_us"] / 1e6
    cores = os.cpu_count() or 1
    summary["others_pct"] = max(0.0, machine - cpu - client_cpu - redis_cpu) / (wall * cores) * 100
    summary["redis_cpu"] = redis_cpu
    summary["busiest_pct"] = max(workers) / sum(workers) * 100 if sum(workers) > 0 else 0.0
    return summary, cpu, client_cpu, sql, redis_cmds


def measure(
    name: str,
    requests: list[dict[str, Any]],
    server: Server,
    *,
    duration: int,
    workdir: Path,
    close: bool,
    warm_seconds: int,
    max_others: float = 15.0,
    retry_until: float = 0.0,
) -> Row:
    """Warm, then run wrk; a run disturbed by other processes (more than `max_others` percent
    of the CPU) is repeated, up to twice, while time.monotonic() < `retry_until`."""
    script = workdir / f"{name}-{'close' if close else 'ka'}.lua"
    write_lua(script, requests, close=close)
    if warm_seconds:
        run_wrk(script, server.port, warm_seconds, server)
    attempts = [run_wrk(script, server.port, duration, server)]
    while (
        attempts[-1][0]["others_pct"] > max_others
        and len(attempts) < 3
        and time.monotonic() < retry_until
    ):
        print(
            f"  ({name}: other processes took {attempts[-1][0]['others_pct']:.0f}% of the "
            "CPU during the run; running it again)",
            flush=True,
        )
        time.sleep(2)
        attempts.append(run_wrk(script, server.port, duration, server))
    summary, cpu, client_cpu, sql, redis_cmds = min(attempts, key=lambda a: a[0]["others_pct"])
    n = max(summary["requests"], 1)
    errors = (
        summary["status"]
        + summary["connect"]
        + summary["read"]
        + summary["write"]
        + summary["timeout"]
    )
    return Row(
        scenario=name,
        role=server.role,
        config=server.config.label(),
        connection="close" if close else "keep-alive",
        rps=summary["requests"] / (summary["duration_us"] / 1e6),
        p50_ms=summary["p50"] / 1000,
        p99_ms=summary["p99"] / 1000,
        errors=errors,
        requests=summary["requests"],
        server_cpu_us=cpu / n * 1e6,
        client_cpu_us=client_cpu / n * 1e6,
        sql_upper=max(sql, 0) / n,
        redis_upper=max(redis_cmds, 0) / n,
        others_pct=summary["others_pct"],
        busiest_pct=summary["busiest_pct"],
        redis_cpu_us=summary["redis_cpu"] / n * 1e6,
        extra={k: summary[k] for k in ("connect", "read", "write", "status", "timeout")},
    )


def probe(port: int, scenarios: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Check each scenario answers what it claims (licensed checks get a package, etc.)."""
    problems = []
    for name, requests in scenarios.items():
        req = requests[0]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(req["method"], req["path"], body=req["body"], headers=req["headers"])
        response = conn.getresponse()
        body = response.read()
        conn.close()
        if response.status != 200:
            problems.append(f"{name}: HTTP {response.status} {body[:200]!r}")
            continue
        data = json.loads(body)
        if name in ("puc", "puc-1key") and "download_url" not in data:
            problems.append(f"{name}: no download_url: {data.get('upgrade_notice')!r}")
        if name == "puc-unknown" and "download_url" in data:
            problems.append(f"{name}: an unknown key got a download_url")
        if name == "edd-check" and data.get("license") != "valid":
            problems.append(f"{name}: license {data.get('license')!r}: {data.get('msg')!r}")
        if name == "edd" and not data.get("package"):
            problems.append(f"{name}: no package: {data.get('msg')!r}")
        if name == "native" and sum(1 for i in data["plugins"].values() if i["package"]) != 5:
            problems.append(f"{name}: expected 5 licensed updates, got {data['plugins'].keys()}")
    return problems


# --- preparing -----------------------------------------------------------------------------


def prerequisites(configs: list[ServerConfig]) -> list[ServerConfig]:
    if shutil.which("wrk") is None:
        raise SystemExit(
            "bench-updates needs wrk on PATH: apt-get install wrk (Debian/Ubuntu), "
            "brew install wrk (macOS)."
        )
    missing = []
    for module, hint in (("MySQLdb", "requirements/mysql.txt"), ("redis", "requirements/base.txt")):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"{module} ({hint})")
    if missing:
        raise SystemExit(f"missing Python packages: {', '.join(missing)}; pip install -r ...")
    if not (VENV_BIN / "granian").exists() and any(c.kind == "granian" for c in configs):
        print(
            "granian is not installed (.venv/bin/pip install -r requirements/bench.txt); "
            "skipping its configs"
        )
        configs = [c for c in configs if c.kind != "granian"]
    return configs


def prepare(workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    db = mysql_connect()
    cur = db.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{DB_NAME}`")
    cur.execute(f"CREATE DATABASE `{DB_NAME}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    db.close()
    redis_client().flushdb()
    env = {
        **os.environ,
        **ENV,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_MEDIA_ROOT": str(workdir / "media"),
        # Seeding publishes ReleasePublished through the outbox; keep those messages off the
        # shared RabbitMQ (nothing consumes them for the bench database).
        "CELERY_BROKER_URL": "memory://",
    }
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    migrated = time.monotonic()
    fixtures = workdir / "fixtures.json"
    subprocess.run(
        [PYTHON, str(HERE / "django_side.py"), "seed", str(fixtures)], cwd=ROOT, env=env, check=True
    )
    print(
        f"prepared {DB_NAME} + redis db {REDIS_DB}: migrate {migrated - started:.1f} s, "
        f"total {time.monotonic() - started:.1f} s"
    )
    return json.loads(fixtures.read_text())


def count_queries(
    settings: str, scenarios: dict[str, list[dict[str, Any]]], workdir: Path, tag: str
) -> dict[str, Any]:
    path = workdir / f"scenarios-{tag}.json"
    out = workdir / f"queries-{tag}.json"
    path.write_text(json.dumps(scenarios))
    env = {**os.environ, **ENV, "DJANGO_SETTINGS_MODULE": settings}
    subprocess.run(
        [
            PYTHON,
            str(HERE / "django_side.py"),
            "queries",
            str(workdir / "fixtures.json"),
            str(path),
            str(out),
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return json.loads(out.read_text())


# --- reporting -----------------------------------------------------------------------------


def results_table(
    rows: list[Row],
    queries: dict[str, dict[str, Any]],
    baselines: dict[tuple[str, str, str], float],
) -> str:
    head = (
        f"{'scenario':<12} {'role':<7} {'server':<24} {'conn':<10} {'req/s':>6} "
        f"{'p50 ms':>6} {'p99 ms':>6} {'errors':>6} {'srv µs/req':>10} {'top wrk%':>8} "
        f"{'others%':>7} "
        f"{'SQL/req':>7} {'Redis rt':>8} {'xhealthz':>8}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        q = queries.get(row.role, {}).get(row.scenario, {})
        base = baselines.get((row.role, row.config, row.connection))
        ratio = f"{row.rps / base:.2f}" if base and row.scenario != "healthz" else ""
        sql = f"{q['sql']:.2f}" if q else ""
        trips = f"{q['redis_round_trips']:.2f}" if q else ""
        lines.append(
            f"{row.scenario:<12} {row.role:<7} {row.config:<24} {row.connection:<10} "
            f"{row.rps:>6.0f} {row.p50_ms:>6.1f} {row.p99_ms:>6.1f} {row.errors:>6} "
            f"{row.server_cpu_us:>10.0f} {row.busiest_pct:>8.0f} {row.others_pct:>7.0f} "
            f"{sql:>7} {trips:>8} {ratio:>8}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warm", type=int, default=2, help="seconds of wrk warm-up per script")
    parser.add_argument(
        "--configs",
        default=DEFAULT_CONFIGS,
        help=f"updates server configs to compare, of: {', '.join(CONFIGS)}",
    )
    parser.add_argument(
        "--full",
        default="sync-2,granian-2x1",
        help="configs to run every scenario on, comma-separated; the first is the gunicorn "
        "config deploy/gunicorn/updates.conf.py ships ('auto': the fastest gunicorn config "
        "on the PUC check, plus the fastest granian one if it is faster)",
    )
    parser.add_argument(
        "--web",
        default="",
        help="server config of the web role (default: the first --full config, so that the "
        "updates/web ratio compares settings only)",
    )
    parser.add_argument("--compare", default="puc", help="scenarios run on every config")
    parser.add_argument(
        "--max-others",
        type=float,
        default=15.0,
        help="repeat a run once when other processes took more than this share "
        "of the CPU (percent of all cores)",
    )
    parser.add_argument(
        "--retry-budget",
        type=float,
        default=300.0,
        help="seconds into the bench after which disturbed runs are no longer repeated",
    )
    parser.add_argument(
        "--skip-prepare", action="store_true", help="reuse the last run's database and fixtures"
    )
    parser.add_argument(
        "--workdir", default=str(Path(tempfile.gettempdir()) / "depot-bench-updates")
    )
    args = parser.parse_args()

    configs = prerequisites([CONFIGS[name] for name in args.configs.split(",") if name])
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(
        f"bench/updates: wrk {THREADS} threads x {CONNECTIONS} connections, {args.duration} s "
        f"per run, on {os.cpu_count()} cores shared by wrk, the server, Redis and MariaDB; "
        f"logs in {workdir}"
    )
    if args.skip_prepare:
        fx = json.loads((workdir / "fixtures.json").read_text())
    else:
        fx = prepare(workdir)
    scenarios = build_scenarios(fx)
    compare = [name for name in args.compare.split(",") if name]
    rows: list[Row] = []
    notes: list[str] = []

    def run_server(config: ServerConfig, role: str, names: list[str]) -> list[Row]:
        port = PORT_UPDATES if role == "updates" else PORT_WEB
        server = Server(config, role=role, port=port, logdir=workdir)
        result = []
        try:
            server.wait_ready()
            for problem in probe(port, {n: scenarios[n] for n in names}):
                notes.append(f"PROBLEM ({role}, {config.label()}): {problem}")
                print(f"  {notes[-1]}")
            for name in names:
                for close in (False, True):
                    row = measure(
                        name,
                        scenarios[name],
                        server,
                        duration=args.duration,
                        workdir=workdir,
                        close=close,
                        warm_seconds=0 if close else args.warm,
                        max_others=args.max_others,
                        retry_until=started + args.retry_budget,
                    )
                    print(
                        f"  {role:<7} {config.label():<24} {name:<12} {row.connection:<10} "
                        f"{row.rps:6.0f} req/s  p50 {row.p50_ms:5.1f}  p99 {row.p99_ms:6.1f} ms  "
                        f"errors {row.errors}  server {row.server_cpu_us:4.0f} µs/req  "
                        f"wrk {row.client_cpu_us:3.0f} µs/req  Redis {row.redis_cpu_us:3.0f} "
                        f"µs/req  busiest worker {row.busiest_pct:3.0f}%  "
                        f"others {row.others_pct:2.0f}%",
                        flush=True,
                    )
                    result.append(row)
            db = mysql_connect()
            held = mysql_bench_connections(db.cursor())
            db.close()
            result[-1].extra["db_connections"] = held
            print(f"  {held} MariaDB connections held open to {DB_NAME} by {config.label()}")
        finally:
            server.stop()
        return result

    print(f"\n== updates role: server configs on {', '.join(compare)} ==")
    for config in configs:
        rows += run_server(config, "updates", compare)

    def fastest(kinds: tuple[str, ...]) -> ServerConfig | None:
        """The config with the most req/s on the PUC check, keep-alive, among runs that other
        processes did not disturb (all runs if every one was disturbed)."""
        candidates = [
            r
            for r in rows
            if r.scenario == "puc"
            and r.connection == "keep-alive"
            and any(c.label() == r.config and c.kind in kinds for c in configs)
        ]
        quiet = [r for r in candidates if r.others_pct <= args.max_others]
        if not candidates:
            return None
        top = max(quiet or candidates, key=lambda r: r.rps)
        return next(c for c in configs if c.label() == top.config)

    # Every scenario on the --full configs (by default what deploy/ ships for gunicorn, and
    # granian); the web role on the first, with the same workers and threads, so that the
    # updates/web ratio compares settings only.
    if args.full != "auto":
        fulls = [CONFIGS[name] for name in args.full.split(",")]
    else:
        fulls = [c for c in (fastest(("gunicorn",)), fastest(("granian",))) if c is not None]
        if len(fulls) == 2:
            by_label = {
                r.config: r.rps
                for r in rows
                if r.scenario == "puc" and r.connection == "keep-alive"
            }
            if by_label[fulls[1].label()] <= by_label[fulls[0].label()]:
                fulls = fulls[:1]
    assert fulls, "no config was compared on the puc scenario"
    full = fulls[0]
    for config in fulls:
        rest = [name for name in SCENARIOS if name not in compare or config not in configs]
        print(f"\n== updates role, every scenario, on {config.label()} ==")
        rows += run_server(config, "updates", rest)
    web_config = CONFIGS[args.web] if args.web else full
    conf_note = ", deploy/gunicorn/web.conf.py" if web_config.kind == "gunicorn" else ""
    print(f"\n== web role (config.settings.production{conf_note}) on {web_config.label()} ==")
    rows += run_server(web_config, "web", ["puc", "healthz"])

    print("\n== per request, in-process (Django test client, same settings, DB and Redis) ==")
    queries = {
        "updates": count_queries(
            "config.settings.updates", {**scenarios, **extra_scenarios(fx)}, workdir, "updates"
        ),
        "web": count_queries(
            "config.settings.production",
            {"puc": scenarios["puc"], "healthz": scenarios["healthz"]},
            workdir,
            "web",
        ),
    }
    for role, found in queries.items():
        for name, q in found.items():
            print(
                f"  {role:<7} {name:<16} SQL {q['sql']:6.2f}   Redis round trips "
                f"{q['redis_round_trips']:6.2f}   Redis commands {q['redis_commands']:7.2f}"
                + (f"   non-2xx {q['non_2xx']}" if q.get("non_2xx") else "")
            )

    order = {name: i for i, name in enumerate(SCENARIOS)}
    rows.sort(
        key=lambda r: (
            r.role != "updates",
            r.config not in [c.label() for c in fulls],
            r.config,
            order.get(r.scenario, 99),
            r.connection != "keep-alive",
        )
    )
    baselines = {(r.role, r.config, r.connection): r.rps for r in rows if r.scenario == "healthz"}
    report = [
        "== results ==",
        "errors: HTTP >= 400 plus socket errors; srv µs/req: CPU of the server's processes per "
        "request; top wrk%: the busiest worker's share of the workers' CPU (50 is even with 2 "
        "workers); others%: CPU taken by other processes during the run (share of all cores); "
        "SQL/req and Redis rt: per warm request, counted in-process; xhealthz: req/s over "
        "/healthz on the same server and connection mode",
        results_table(rows, queries, baselines),
        "",
        "== ratios ==",
    ]
    for conn in ("keep-alive", "close"):
        upd = next(
            (
                r
                for r in rows
                if r.role == "updates"
                and r.config == full.label()
                and r.scenario == "puc"
                and r.connection == conn
            ),
            None,
        )
        web = next(
            (r for r in rows if r.role == "web" and r.scenario == "puc" and r.connection == conn),
            None,
        )
        if upd and web:
            report.append(
                f"PUC check, updates/web on {full.label()}, {conn}: {upd.rps / web.rps:.2f}x "
                f"req/s, {web.server_cpu_us / upd.server_cpu_us:.2f}x less server CPU per request"
            )
    shown: list[ServerConfig] = []
    for config in (full, fastest(("gunicorn",))):
        if config is None or config.kind != "gunicorn" or config in shown:
            continue
        shown.append(config)
        row = next(
            (
                r
                for r in rows
                if r.config == config.label()
                and r.role == "updates"
                and r.scenario == "puc"
                and r.connection == "keep-alive"
            ),
            None,
        )
        if row is not None:
            report.append(
                f"licensed PUC check (1,000 keys), {CONNECTIONS} keep-alive connections, "
                f"{config.label()}: {row.rps:.0f} req/s, p99 {row.p99_ms:.1f} ms (the issue's "
                "target under gunicorn: >= 3,000 req/s, p99 < 30 ms)"
            )
    report += notes
    print("\n" + "\n".join(report))
    print(
        "\n== server-side upper bounds during the runs (global MariaDB and Redis counters: "
        "other users of either inflate them) =="
    )
    for row in rows:
        print(
            f"  {row.role:<7} {row.config:<24} {row.scenario:<12} {row.connection:<10} "
            f"SQL statements <= {row.sql_upper:.3f}/req   Redis commands <= "
            f"{row.redis_upper:.2f}/req   wrk CPU {row.client_cpu_us:.0f} µs/req   "
            f"Redis CPU {row.redis_cpu_us:.0f} µs/req"
        )
    (workdir / "results.txt").write_text("\n".join(report) + "\n")
    (workdir / "results.json").write_text(
        json.dumps(
            {"rows": [r.__dict__ for r in rows], "queries": queries, "full": full.label()}, indent=1
        )
    )
    print(f"\nfinished in {time.monotonic() - started:.0f} s; results in {workdir}/results.*")


if __name__ == "__main__":
    main()
