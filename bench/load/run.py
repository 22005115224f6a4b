"""`make load`: a stack of its own, Locust against it, faults on a schedule, invariants, a report.

    .venv/bin/python bench/load/run.py --scenario mixed --duration 600 --faults full
    .venv/bin/python bench/load/run.py --scenario storm --duration 60 --faults storm-flush
    .venv/bin/python bench/load/run.py --scenario sale --users 20 --duration 20 --faults none

1. Starts `make stack` (deploy/stack/run.py up) in a run directory and on ports of its own
   (.stack-load, 280xx), so a `make stack` someone keeps open is left alone, with the rate
   limits per address raised (every simulated site and buyer is 127.0.0.1), the SMTP sink that
   can be slowed (smtp_delay.py) and, when any fault stops a service, private MariaDB, Redis
   and RabbitMQ (DEPOT_STACK_PRIVATE_SERVICES=1): the shared ones are never stopped.
2. Samples every second: MariaDB connections of the stack, Redis memory, each role's resident
   memory (all its processes) and CPU time.
3. Runs Locust headless (locustfile.py) for the duration, bounded in users and spawn rate, and
   the chaos schedule (chaos.py) in a thread beside it.
4. Drains: waits until the outbox is empty and every paid order is fulfilled and has its
   receipt at the SMTP sink, for at most --drain seconds.
5. Checks the invariants (below), prints each, writes the report (report.py) and stops the
   stack, checking nothing of it is left. The exit status is the number of invariants broken.

Invariants: every paid order has exactly one license per line and exactly one receipt at the
SMTP sink; succeeded test-gateway payments == paid orders; the outbox is empty; no 5xx nor
connection error outside a fault window (plus RECOVERY_GRACE seconds after it); MariaDB
connections stayed <= processes x threads + CONNECTION_SLACK at every sample; Redis and each
role's memory did not grow without bound (the last third's median <= 1.5 x the first third's
+ 32 MB, after a 30 s warm-up).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import mailbox
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "bench" / "load"
VENV_BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(HERE))

import chaos  # noqa: E402

# The stack the load runs against: ports, names and run directory of its own.
LOAD_STACK = {
    "DEPOT_STACK_STORE_PORT": "28080",
    "DEPOT_STACK_UPDATES_PORT": "28081",
    "DEPOT_STACK_WEB_PORT": "28000",
    "DEPOT_STACK_UPDATES_ROLE_PORT": "28001",
    "DEPOT_STACK_S3_PORT": "28900",
    "DEPOT_STACK_SMTP_PORT": "28025",
    "DEPOT_STACK_PRIVATE_MARIADB_PORT": "28306",
    "DEPOT_STACK_PRIVATE_REDIS_PORT": "28379",
    "DEPOT_STACK_PRIVATE_RABBITMQ_PORT": "28672",
    "DEPOT_STACK_PRIVATE_RABBITMQ_DIST_PORT": "28673",
    "DEPOT_STACK_DATABASE": "depot_load",
    # Not the test suite's Redis db (13), bench/updates' (5) or `make stack`'s (11).
    "DEPOT_STACK_REDIS_DB": "7",
    "DEPOT_STACK_VHOST": "depot_load",
    "DEPOT_UPDATE_RATE_LIMIT": "1000000",
    "DEPOT_LICENSE_RATE_LIMIT": "1000000",
    "DEPOT_STACK_NGINX_UPDATES_RATE": "100000r/s",
    "DEPOT_STACK_SMTP_HANDLER": "bench.load.smtp_delay.DelayedMailbox",
}
# deploy/stack/Procfile: web 2 gunicorn workers x 4 threads (deploy/gunicorn/web.conf.py),
# updates 2 granian workers x 1 blocking thread, pipeline 2 prefork children + its main
# process, mail 4 threads + its main process, beat 1; the sampler's own connection.
CONNECTION_BOUND = 2 * 4 + 2 * 1 + (2 + 1) + (4 + 1) + 1 + 1
CONNECTION_SLACK = 10
RECOVERY_GRACE = 15.0
SCENARIOS = {
    "sale": ["Buyer"],
    "storm": ["Site"],
    "mixed": ["Buyer", "Site", "Admin"],
}
ROLES = ("nginx", "web", "updates", "pipeline", "mail", "beat", "s3", "smtp")
STOPPING_FAULTS = {"rabbitmq", "redis", "mariadb"}


def say(message: str) -> None:
    print(f"load: {message}", flush=True)


# --- the stack ------------------------------------------------------------------------------


@dataclass
class StackRun:
    directory: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    def stop(self) -> bool:
        """Stop `run.py up` (it stops every process), then `run.py down`: True if none left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        done = subprocess.run(
            [str(VENV_BIN / "python"), "deploy/stack/run.py", "down"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        say(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "stack-down ran")
        return done.returncode == 0


def stack_start(directory: Path, *, licenses: int, private: bool, out: Path) -> StackRun:
    # The environment may move any of LOAD_STACK (the smoke test picks free ports and names).
    chosen = {key: os.environ.get(key, value) for key, value in LOAD_STACK.items()}
    env = {**os.environ, **chosen, "DEPOT_STACK_DIR": str(directory)}
    env["DEPOT_STACK_LICENSES"] = str(licenses)
    env["DEPOT_STACK_PRIVATE_SERVICES"] = "1" if private else "0"
    (directory / "ready.json").unlink(missing_ok=True)
    log = (out / "stack.log").open("ab")
    process = subprocess.Popen(
        [str(VENV_BIN / "python"), "deploy/stack/run.py", "up"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    run = StackRun(directory, process, env)
    deadline = time.monotonic() + 600
    while not (directory / "ready.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            run.stop()
            tail = (out / "stack.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"load: the stack did not come up:\n{tail}")
        time.sleep(0.5)
    say(f"stack up in {directory} (log {out / 'stack.log'})")
    return run


# --- sampling -------------------------------------------------------------------------------


def _db(env: dict[str, str], database: str = "") -> Any:
    import MySQLdb

    parts = urlsplit(env["DATABASE_URL"])
    return MySQLdb.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        passwd=parts.password or "",
        db=database or parts.path.lstrip("/"),
        connect_timeout=2,
    )


def _tree(pid: int, table: dict[int, int]) -> list[int]:
    found, grew = {pid}, True
    while grew:
        children = {child for child, parent in table.items() if parent in found} - found
        found |= children
        grew = bool(children)
    return sorted(found)


def _proc_table() -> dict[int, int]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                table[int(entry.name)] = int(fields[1])
    return table


def _rss_cpu(pids: list[int]) -> tuple[int, float]:
    page, tick = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_CLK_TCK")
    rss, cpu = 0, 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / tick
    return rss, cpu


def _role_pid(directory: Path, role: str) -> int | None:
    try:
        return int((directory / "pids" / f"{role}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


class Sampler(threading.Thread):
    """Once a second: DB connections, Redis memory, each role's RSS and CPU seconds."""

    def __init__(self, stack: StackRun, out: Path, private: bool) -> None:
        super().__init__(daemon=True)
        self.stack, self.out, self.private = stack, out / "samples.jsonl", private
        self.env = chaos.stack_env(stack.directory)
        self.stopping = threading.Event()
        self.conn: Any = None

    def connections(self) -> int | None:
        try:
            if self.conn is None:
                self.conn = _db(self.env, "information_schema")
            cursor = self.conn.cursor()
            if self.private:
                cursor.execute("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
                return int(cursor.fetchone()[1])
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s",
                [self.env["DEPOT_STACK_DATABASE"]],
            )
            return int(cursor.fetchone()[0]) + 1  # and this one
        except Exception:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None
            return None

    def redis_memory(self) -> int | None:
        try:
            import redis

            info = redis.Redis.from_url(self.env["REDIS_URL"], socket_timeout=1).info("memory")
            return int(info["used_memory"])
        except Exception:
            return None

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            table = _proc_table()
            roles = {}
            for role in ROLES:
                pid = _role_pid(self.stack.directory, role)
                if pid is not None and pid in table:
                    roles[role] = _rss_cpu(_tree(pid, table))
            row = {
                "t": time.time(),
                "db_connections": self.connections(),
                "redis_memory": self.redis_memory(),
                "rss": {role: value[0] for role, value in roles.items()},
                "cpu": {role: round(value[1], 2) for role, value in roles.items()},
            }
            with self.out.open("a") as file:
                file.write(json.dumps(row) + "\n")


# --- the run --------------------------------------------------------------------------------


def locust_run(
    *, stack: StackRun, out: Path, scenario: str, users: int, spawn_rate: float, duration: int
) -> int:
    command = [
        str(VENV_BIN / "locust"),
        "-f",
        str(HERE / "locustfile.py"),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(spawn_rate),
        "--run-time",
        f"{duration}s",
        "--stop-timeout",
        "20",
        "--csv",
        str(out / "locust"),
        "--csv-full-history",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
        *SCENARIOS[scenario],
    ]
    env = {**os.environ, "LOAD_STACK_DIR": str(stack.directory), "LOAD_OUT": str(out)}
    with (out / "locust.log").open("ab") as log:
        done = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return done.returncode


def _receipts(directory: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    box = mailbox.Maildir(directory / "mail", create=False)
    for message in box:
        found = re.search(r"receipt for order (\S+)", str(message.get("Subject") or ""))
        if found:
            counts[found.group(1)] = counts.get(found.group(1), 0) + 1
    return counts


def _state(env: dict[str, str]) -> dict[str, Any]:
    conn = _db(env)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT id, number FROM store_order WHERE status = 'paid'")
        paid = dict(cursor.fetchall())
        cursor.execute(
            "SELECT COUNT(*) FROM store_order WHERE status = 'paid' AND fulfilled_at IS NULL"
        )
        unfulfilled = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT l.order_id, l.id, COUNT(li.id) FROM store_orderline l "
            "JOIN store_order o ON o.id = l.order_id AND o.status = 'paid' "
            "LEFT JOIN licenses_license li ON li.order_line_id = l.id GROUP BY l.order_id, l.id"
        )
        lines = cursor.fetchall()
        cursor.execute(
            "SELECT COUNT(*) FROM store_payment WHERE gateway = 'test' AND status = 'succeeded'"
        )
        payments = int(cursor.fetchone()[0])
        cursor.execute("SELECT COUNT(*) FROM core_outboxevent WHERE dispatched_at IS NULL")
        outbox = int(cursor.fetchone()[0])
        cursor.execute("SELECT status, COUNT(*) FROM store_order GROUP BY status")
        orders = dict(cursor.fetchall())
    finally:
        conn.close()
    return {
        "paid": paid,
        "unfulfilled": unfulfilled,
        "lines": lines,
        "payments": payments,
        "outbox": outbox,
        "orders": orders,
    }


def drain(stack: StackRun, seconds: float) -> tuple[dict[str, Any], dict[str, int], float]:
    """Wait for the outbox, fulfilment and receipts to catch up; return what was last seen."""
    env = chaos.stack_env(stack.directory)
    started = time.monotonic()
    while True:
        try:
            state = _state(env)
            receipts = _receipts(stack.directory)
        except Exception as error:  # the database coming back after a fault
            say(f"drain: {error}")
            time.sleep(2)
            continue
        missing = [n for n in state["paid"].values() if receipts.get(n, 0) < 1]
        done = state["outbox"] == 0 and state["unfulfilled"] == 0 and not missing
        if done or time.monotonic() - started > seconds:
            return state, receipts, time.monotonic() - started
        time.sleep(2)


@dataclass
class Invariant:
    name: str
    held: bool
    detail: str


@dataclass
class Result:
    invariants: list[Invariant] = field(default_factory=list)

    def add(self, name: str, held: bool, detail: str) -> None:
        self.invariants.append(Invariant(name, held, detail))
        print(f"  {'HELD  ' if held else 'BROKEN'} {name}: {detail}", flush=True)


def _growth_ok(series: list[float]) -> tuple[bool, str]:
    if len(series) < 9:
        return True, f"{len(series)} samples after warm-up: too few to judge, taken as held"
    third = len(series) // 3
    first, last = median(series[:third]), median(series[-third:])
    bound = 1.5 * first + 32 * 2**20
    return last <= bound, f"median {first / 2**20:.1f} MB -> {last / 2**20:.1f} MB"


def _is_download(error: dict[str, Any]) -> bool:
    return str(error["name"]).startswith("/updates/download/")


# The 5xx a fault's window may show because the README documents them as that outage's
# behaviour; any other 5xx or connection error inside a window breaks an invariant.
DOCUMENTED_5XX: dict[str, Any] = {
    # Database lost: the web role answers every page and JSON call 503 with Retry-After
    # (apps/core/outage.py); downloads, which check the license in the database, too.
    "mariadb": lambda e: e["status"] == 503,
    # S3 unreachable: a download answers 503 with Retry-After (DEPOT_STORAGE_* in the README).
    "s3": lambda e: e["status"] == 503 and _is_download(e),
    # Redis down: license changes answer 503 (REDIS_URL in the README).
    "redis": lambda e: e["status"] == 503 and "licen" in str(e["name"]),
    # A killed web worker: nginx answers 502 for the requests it was serving.
    "web-worker": lambda e: e["status"] == 502,
}


def _documented(error: dict[str, Any], windows: list[chaos.Window]) -> bool:
    """Whether a fault in force at the error's time (plus the grace) documents it."""
    return any(
        w.start <= error["t"] <= w.end + RECOVERY_GRACE
        and DOCUMENTED_5XX.get(w.name.split(":")[0], lambda e: False)(error)
        for w in windows
    )


def invariants_check(
    out: Path,
    state: dict[str, Any],
    receipts: dict[str, int],
    windows: list[chaos.Window],
    locust_code: int = 0,
) -> Result:
    result = Result()
    made = (out / "requests.csv").read_text().count("\n") if (out / "requests.csv").exists() else 0
    # Without this, a locustfile that failed to load would "hold" every invariant below.
    result.add(
        "the load ran",
        locust_code == 0 and made > 0,
        f"locust exited {locust_code}, {made} requests recorded",
    )
    paid = state["paid"]
    bad_lines = [(order, line, n) for order, line, n in state["lines"] if n != 1]
    result.add(
        "one license per paid line",
        not bad_lines,
        f"{len(state['lines'])} lines of {len(paid)} paid orders"
        + (f"; wrong: {bad_lines[:5]}" if bad_lines else ""),
    )
    wrong = {n: receipts.get(n, 0) for n in paid.values() if receipts.get(n, 0) != 1}
    result.add(
        "one receipt per paid order at the SMTP sink",
        not wrong,
        f"{sum(receipts.get(n, 0) for n in paid.values())} receipts for {len(paid)} orders"
        + (f"; off: {dict(list(wrong.items())[:5])}" if wrong else ""),
    )
    result.add(
        "test-gateway payments == paid orders",
        state["payments"] == len(paid),
        f"{state['payments']} succeeded payments, {len(paid)} paid orders "
        f"(orders by status: {state['orders']})",
    )
    result.add("outbox empty", state["outbox"] == 0, f"{state['outbox']} undispatched events")
    errors = _jsonl(out / "errors.jsonl")
    outside = [
        e for e in errors if not any(w.start <= e["t"] <= w.end + RECOVERY_GRACE for w in windows)
    ]
    result.add(
        "no 5xx outside fault windows",
        not outside,
        f"{len(errors)} 5xx/connection errors, {len(outside)} outside the windows "
        f"(+{RECOVERY_GRACE:g} s)" + (f"; first: {outside[0]}" if outside else ""),
    )
    undocumented = [e for e in errors if e not in outside and not _documented(e, windows)]
    result.add(
        "inside the windows only the 5xx the outage behaviour documents",
        not undocumented,
        f"{len(errors) - len(outside) - len(undocumented)} documented, {len(undocumented)} not"
        + (f"; first: {undocumented[0]}" if undocumented else ""),
    )
    samples = _jsonl(out / "samples.jsonl")
    seen = [s["db_connections"] for s in samples if s["db_connections"] is not None]
    bound = CONNECTION_BOUND + CONNECTION_SLACK
    result.add(
        "MariaDB connections <= processes x threads + slack",
        bool(seen) and max(seen) <= bound,
        f"max {max(seen) if seen else '-'} over {len(seen)} samples, bound {CONNECTION_BOUND} + "
        f"{CONNECTION_SLACK}",
    )
    t0 = samples[0]["t"] if samples else 0
    warm = [s for s in samples if s["t"] - t0 >= 30]
    redis_ok, redis_said = _growth_ok(
        [s["redis_memory"] for s in warm if s["redis_memory"] is not None]
    )
    result.add("Redis memory bounded", redis_ok, redis_said)
    for role in ("web", "updates", "pipeline", "mail"):
        ok, said = _growth_ok([s["rss"][role] for s in warm if role in s["rss"]])
        result.add(f"{role} memory bounded", ok, said)
    return result


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="mixed")
    parser.add_argument("--duration", type=int, default=600, help="seconds of load")
    parser.add_argument("--users", type=int, default=0, help="default: by scenario")
    parser.add_argument("--ramp", type=float, default=60, help="seconds from 0 to all users")
    parser.add_argument("--faults", default="none", help="none, full, storm-flush, name@s,...")
    parser.add_argument("--licenses", type=int, default=3000)
    parser.add_argument("--drain", type=float, default=240, help="max seconds to drain")
    parser.add_argument("--out", type=Path, default=HERE / "report" / "latest")
    parser.add_argument("--stack-dir", type=Path, default=ROOT / ".stack-load")
    parser.add_argument("--baseline", type=Path, help="a fault-free run's out dir to compare")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument(
        "--private", action="store_true", help="private services even without a stopping fault"
    )
    args = parser.parse_args(argv)
    users = args.users or {"sale": 500, "storm": 200, "mixed": 600}[args.scenario]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*"):
        if stale.is_file():
            stale.unlink()
    schedule = chaos.schedule_parse(args.faults)
    private = args.private or any(name.partition(":")[0] in STOPPING_FAULTS for _, name in schedule)
    directory = args.stack_dir.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "mail").mkdir(exist_ok=True)
    run_info = {
        "scenario": args.scenario,
        "users": users,
        "ramp": args.ramp,
        "duration": args.duration,
        "faults": args.faults,
        "licenses": args.licenses,
        "private_services": private,
        "cores": os.cpu_count(),
    }
    say(f"run: {run_info}")
    stack = stack_start(directory, licenses=args.licenses, private=private, out=out)
    broken = 1
    try:
        sampler = Sampler(stack, out, private)
        sampler.start()
        doer = chaos.Chaos(directory)
        windows: list[chaos.Window] = []
        t0 = time.time()
        run_info["t0"] = t0

        def faults() -> None:
            windows.extend(chaos.run_schedule(doer, schedule, t0, out / "windows.jsonl"))

        fault_thread = threading.Thread(target=faults, daemon=True)
        fault_thread.start()
        code = locust_run(
            stack=stack,
            out=out,
            scenario=args.scenario,
            users=users,
            spawn_rate=max(1.0, users / max(args.ramp, 1)),
            duration=args.duration,
        )
        run_info["t_end"] = time.time()
        say(f"locust exited {code}; faults left to run are cancelled, each undone")
        doer.stopping.set()
        fault_thread.join(timeout=180)
        state, receipts, took = drain(stack, args.drain)
        sampler.stopping.set()
        sampler.join(timeout=5)
        run_info["drain_seconds"] = round(took, 1)
        say(f"drained in {took:.0f} s; invariants:")
        result = invariants_check(out, state, receipts, windows, code)
        broken = sum(not i.held for i in result.invariants)
        (out / "invariants.json").write_text(
            json.dumps([asdict(i) for i in result.invariants], indent=2) + "\n"
        )
        (out / "run.json").write_text(json.dumps(run_info, indent=2) + "\n")
        if not args.no_report:
            import report

            summary = report.report(out, baseline=args.baseline)
            say(f"report: {summary}")
    finally:
        clean = stack.stop()
        if not clean:
            say("stack-down left processes running")
            broken += 1
    say(f"{'all invariants held' if broken == 0 else f'{broken} invariant(s) broken'}")
    return broken


if __name__ == "__main__":
    sys.exit(main())
