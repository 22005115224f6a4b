"""Faults on a schedule against a running `make stack`, each bounded and undone.

    .venv/bin/python bench/load/chaos.py --schedule full --at 0 [--stack-dir .stack]
    .venv/bin/python bench/load/chaos.py --only redis          # one fault now, then exit

bench/load/run.py runs the schedule in a thread next to Locust; alone, this script runs it in
the foreground and prints each fault's window as JSON lines. The faults (issue 15):

| name        | what                                                       | undone by            |
|-------------|------------------------------------------------------------|----------------------|
| web-worker  | SIGKILL one gunicorn worker of the web role                | gunicorn's master    |
| celery-child| SIGKILL a busy prefork child of the pipeline worker (the   | Celery's pool; acks  |
|             | sale's tasks are order_fulfil, so a busy child is in one)  | late + the sweeper   |
| rabbitmq    | stop the private RabbitMQ node for 120 s                   | start it again       |
| redis       | stop the private Redis for 60 s                            | start it again       |
| mariadb     | stop the private MariaDB, start it 10 s later              | start it again       |
| s3          | freeze moto's S3 server (SIGSTOP) for 30 s                 | SIGCONT              |
| smtp-slow   | the SMTP sink waits 2 s before taking each message, 120 s  | remove the delay     |
| cache-flush | delete the update cache's entries (a cold-cache storm)     | the next checks      |

The broker, Redis and MariaDB faults refuse to run unless the stack runs its own instances
(DEPOT_STACK_PRIVATE_SERVICES=1, deploy/stack/private.py): the machine's shared services are
never touched. moto keeps the bucket in memory, so a stopped S3 would come back empty; the S3
fault freezes it instead (connections accepted, nothing answered), the harsher of the two for
the clients. Every fault is undone in a `finally`, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "stack"))

import private  # noqa: E402  (deploy/stack/private.py, standard library only)


def say(message: str) -> None:
    print(f"chaos: {message}", flush=True)


def stack_env(directory: Path) -> dict[str, str]:
    """The running stack's environment (.stack/stack.env, shell-quoted KEY=value lines)."""
    import shlex

    env: dict[str, str] = {}
    path = directory / "stack.env"
    for line in path.read_text().splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        parts = shlex.split(value)
        env[key] = parts[0] if parts else ""
    return env


@dataclass
class Window:
    """When a fault was in force (epoch seconds), for the report's shading and the 5xx rule."""

    name: str
    start: float
    end: float
    note: str = ""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid and fields[0] != "Z":
                    found.append(int(entry.name))
    return found


def _state(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) or "?"
    except (OSError, IndexError):
        return "?"


def _pid(directory: Path, name: str) -> int:
    return int((directory / "pids" / f"{name}.pid").read_text().strip())


class Chaos:
    """The faults against the stack in `directory`; each returns its Window."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.env = stack_env(directory)
        self.private_on = self.env.get("DEPOT_STACK_PRIVATE_SERVICES", "0") in ("1", "true")
        self.private = private.Private.of(directory, self.env) if self.private_on else None
        self.stopping = threading.Event()

    def _sleep(self, seconds: float) -> None:
        self.stopping.wait(seconds)

    def _needs_private(self, name: str) -> private.Private:
        if self.private is None:
            raise RuntimeError(
                f"{name}: the stack runs on the shared services; chaos stops only private "
                "ones (DEPOT_STACK_PRIVATE_SERVICES=1 make stack)"
            )
        return self.private

    def web_worker(self) -> Window:
        start = time.time()
        workers = _children(_pid(self.directory, "web"))
        if not workers:
            return Window("web-worker", start, time.time(), "no gunicorn worker found")
        victim = max(workers)
        os.kill(victim, signal.SIGKILL)
        return Window("web-worker", start, time.time() + 5, f"SIGKILL gunicorn worker {victim}")

    def celery_child(self, wait: float = 20.0) -> Window:
        """SIGKILL a prefork child while it runs a task (state R), else any child after `wait`."""
        start = time.time()
        master = _pid(self.directory, "pipeline")
        deadline = time.monotonic() + wait
        victim, busy = None, False
        while time.monotonic() < deadline and not self.stopping.is_set():
            children = _children(master)
            running = [pid for pid in children if _state(pid) == "R"]
            if running:
                victim, busy = running[0], True
                break
            victim = children[0] if children else None
            time.sleep(0.005)
        if victim is None:
            return Window("celery-child", start, time.time(), "no prefork child found")
        os.kill(victim, signal.SIGKILL)
        note = f"SIGKILL prefork child {victim} ({'running a task' if busy else 'idle'})"
        return Window("celery-child", time.time(), time.time() + 5, note)

    def _service_down(self, name: str, seconds: float) -> Window:
        services = self._needs_private(name)
        start = time.time()
        took = private.service_stop(services, name)
        try:
            self._sleep(seconds)
        finally:
            back = private.service_start(services, name)
        return Window(name, start, time.time(), f"stopped in {took:.1f} s, back in {back:.1f} s")

    def rabbitmq(self, seconds: float = 120) -> Window:
        return self._service_down("rabbitmq", seconds)

    def redis(self, seconds: float = 60) -> Window:
        return self._service_down("redis", seconds)

    def mariadb(self, seconds: float = 10) -> Window:
        return self._service_down("mariadb", seconds)

    def s3(self, seconds: float = 30) -> Window:
        pid = _pid(self.directory, "s3")
        start = time.time()
        os.kill(pid, signal.SIGSTOP)
        try:
            self._sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)
        return Window("s3", start, time.time(), f"moto (pid {pid}) frozen")

    def smtp_slow(self, seconds: float = 120, delay: float = 2.0) -> Window:
        flag = self.directory / "smtp-delay"
        start = time.time()
        flag.write_text(f"{delay}\n")
        try:
            self._sleep(seconds)
        finally:
            flag.unlink(missing_ok=True)
        return Window("smtp-slow", start, time.time(), f"{delay:g} s per message")

    def cache_flush(self) -> Window:
        """Delete the update cache (depot:upd:*, not the rate counters): a cold-cache storm."""
        import redis

        start = time.time()
        client = redis.Redis.from_url(self.env["REDIS_URL"])
        deleted = 0
        batch: list[bytes] = []
        for key in client.scan_iter(match="*depot:upd:*", count=1000):
            if b":rate:" in key:
                continue
            batch.append(key)
            if len(batch) >= 500:
                deleted += client.delete(*batch)
                batch = []
        if batch:
            deleted += client.delete(*batch)
        return Window("cache-flush", start, time.time() + 10, f"{deleted} keys deleted")


FAULTS: dict[str, Callable[[Chaos], Window]] = {
    "web-worker": Chaos.web_worker,
    "celery-child": Chaos.celery_child,
    "rabbitmq": Chaos.rabbitmq,
    "redis": Chaos.redis,
    "mariadb": Chaos.mariadb,
    "s3": Chaos.s3,
    "smtp-slow": Chaos.smtp_slow,
    "cache-flush": Chaos.cache_flush,
}

# Seconds after the start of the run at which each fault begins, for a ~10 minute run; the
# gaps leave time to recover between faults so each one's cost is visible on its own.
SCHEDULES: dict[str, list[tuple[float, str]]] = {
    "none": [],
    "full": [
        (60, "web-worker"),
        (90, "celery-child"),
        (120, "cache-flush"),
        (150, "redis"),
        (240, "rabbitmq"),
        (390, "mariadb"),
        (430, "s3"),
        (470, "smtp-slow"),
    ],
    "storm-flush": [(30, "cache-flush")],
}


def schedule_parse(text: str, scale: float = 1.0) -> list[tuple[float, str]]:
    """A named schedule, or `name@seconds[:lasting],...`; times multiplied by `scale`.

    `redis@5:10` stops Redis 5 s into the run for 10 s instead of its 60 (short smoke runs).
    """
    if text in SCHEDULES:
        return [(at * scale, name) for at, name in SCHEDULES[text]]
    items = []
    for part in filter(None, text.split(",")):
        name, _, when = part.partition("@")
        at, _, lasting = when.partition(":")
        if name not in FAULTS:
            raise SystemExit(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        items.append((float(at or 0) * scale, f"{name}:{lasting}" if lasting else name))
    return sorted(items)


def fault_run(chaos: Chaos, spec: str) -> Window:
    """Run `name` or `name:seconds` (a fault that lasts, made shorter or longer)."""
    name, _, lasting = spec.partition(":")
    if lasting and name in ("rabbitmq", "redis", "mariadb", "s3", "smtp-slow"):
        return FAULTS[name](chaos, float(lasting))  # type: ignore[call-arg]
    return FAULTS[name](chaos)


def run_schedule(
    chaos: Chaos, schedule: list[tuple[float, str]], t0: float, out: Path | None = None
) -> Iterator[Window]:
    """Run each fault at t0 + its offset, one after another; yield each window as it ends."""
    for at, name in schedule:
        delay = t0 + at - time.time()
        if delay > 0 and chaos.stopping.wait(delay):
            return
        say(f"{name} at +{time.time() - t0:.0f} s")
        try:
            window = fault_run(chaos, name)
        except Exception as error:  # a fault that could not run is reported, not fatal
            window = Window(name, time.time(), time.time(), f"not run: {error}")
        say(f"{name} done: {window.note}")
        if out is not None:
            with out.open("a") as file:
                file.write(json.dumps(asdict(window)) + "\n")
        yield window


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack-dir", type=Path, default=ROOT / ".stack")
    parser.add_argument("--schedule", default="full", help="none, full, or name@s,name@s")
    parser.add_argument("--only", help="run this one fault now and exit")
    parser.add_argument("--out", type=Path, help="append each window here as a JSON line")
    args = parser.parse_args(argv)
    chaos = Chaos(args.stack_dir.resolve())
    schedule = schedule_parse(f"{args.only}@0") if args.only else schedule_parse(args.schedule)
    signal.signal(signal.SIGTERM, lambda *_: chaos.stopping.set())
    try:
        for window in run_schedule(chaos, schedule, time.time(), args.out):
            print(json.dumps(asdict(window)), flush=True)
    except KeyboardInterrupt:
        chaos.stopping.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
