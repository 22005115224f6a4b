"""The update API's hot paths, before and after a change, side by side in one run.

    make bench-hot                                   # baseline: BASE (default origin/main)
    .venv/bin/python bench/updates/hot.py --before 3322109 --rounds 3 --duration 8

The tree at `--before` (a commit, checked out into a temporary git worktree) and this tree
serve the updates role in turn from the same virtualenv, database (`depot_bench`, seeded as
bench/updates/run.py does) and Redis db, with the same server config; wrk drives each
scenario in both connection modes. Rounds interleave the two trees (before, after, before,
…) so that drift on the machine falls on both, and the table shows each figure's median over
the rounds. Prints figures and ratios; asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (bench/updates/run.py: servers, wrk, seeding)

SCENARIOS = {
    "puc": "licensed PUC check, 1,000 keys x 200 sites",
    "edd": "EDD get_version, 1,000 keys",
    "edd-check": "EDD check_license, 1,000 keys",
    "native": "native batch of 10 (5 ours licensed, 5 not ours), 200 sites",
    "puc-unknown": "PUC check with unknown keys",
    "healthz": "/healthz on the same server (Django's floor)",
}


def scenarios_build(fx: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    built = run.build_scenarios(fx)
    rotate = fx["licenses"][: fx["rotate"]]
    built["edd-check"] = [run.edd_check_request(x) for x in rotate]
    return {name: built[name] for name in SCENARIOS}


def worktree_add(ref: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="depot-before-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--force", str(path), ref],
        cwd=run.ROOT,
        check=True,
        capture_output=True,
    )
    return path


def worktree_remove(path: Path) -> None:
    subprocess.run(
        ["git", "worktree", "remove", "--force", str(path)], cwd=run.ROOT, capture_output=True
    )


def serve_and_measure(
    tree: str,
    root: Path,
    config: run.ServerConfig,
    scenarios: dict[str, list[dict[str, Any]]],
    args: argparse.Namespace,
    workdir: Path,
) -> list[run.Row]:
    server = run.Server(
        config, role="updates", port=run.PORT_UPDATES, logdir=workdir, root=root, tag=f"-{tree}"
    )
    rows = []
    try:
        server.wait_ready()
        for problem in run.probe(run.PORT_UPDATES, scenarios):
            print(f"  PROBLEM ({tree}): {problem}", flush=True)
        for name, requests in scenarios.items():
            for close in (False, True):
                row = run.measure(
                    f"{name}-{tree}",
                    requests,
                    server,
                    duration=args.duration,
                    workdir=workdir,
                    close=close,
                    warm_seconds=args.warm,
                    max_others=args.max_others,
                    retry_until=time.monotonic() + 60,
                )
                row.scenario, row.extra["tree"] = name, tree
                print(
                    f"  {tree:<6} {name:<12} {row.connection:<10} {row.rps:6.0f} req/s  "
                    f"p99 {row.p99_ms:5.1f} ms  server {row.server_cpu_us:4.0f} µs/req  "
                    f"errors {row.errors}  others {row.others_pct:2.0f}%",
                    flush=True,
                )
                rows.append(row)
    finally:
        server.stop()
    return rows


def median_of(rows: list[run.Row], tree: str, name: str, conn: str, attr: str) -> float:
    values = [
        getattr(r, attr)
        for r in rows
        if r.extra["tree"] == tree and r.scenario == name and r.connection == conn
    ]
    return statistics.median(values) if values else 0.0


def report(rows: list[run.Row], before: str) -> str:
    head = (
        f"{'scenario':<12} {'conn':<10} {'req/s before':>12} {'after':>7} {'x':>5}  "
        f"{'p99 before':>10} {'after':>6}  {'µs/req before':>13} {'after':>6}  "
        f"{'xhealthz before':>15} {'after':>6}"
    )
    lines = [head, "-" * len(head)]
    for name in SCENARIOS:
        for conn in ("keep-alive", "close"):

            def m(tree: str, attr: str, name: str = name, conn: str = conn) -> float:
                return median_of(rows, tree, name, conn, attr)

            rb, ra = m("before", "rps"), m("after", "rps")
            hb = median_of(rows, "before", "healthz", conn, "rps")
            ha = median_of(rows, "after", "healthz", conn, "rps")
            xb = f"{rb / hb:.2f}" if hb and name != "healthz" else ""
            xa = f"{ra / ha:.2f}" if ha and name != "healthz" else ""
            lines.append(
                f"{name:<12} {conn:<10} {rb:>12.0f} {ra:>7.0f} {ra / rb if rb else 0:>5.2f}  "
                f"{m('before', 'p99_ms'):>10.1f} {m('after', 'p99_ms'):>6.1f}  "
                f"{m('before', 'server_cpu_us'):>13.0f} {m('after', 'server_cpu_us'):>6.0f}  "
                f"{xb:>15} {xa:>6}"
            )
    lines.append("")
    lines.append(f"before: {before}; after: this tree. Medians over the rounds.")
    for conn, goal in (("keep-alive", 1.4), ("close", 1.7)):
        puc = median_of(rows, "after", "puc", conn, "rps")
        health = median_of(rows, "after", "healthz", conn, "rps")
        if health:
            lines.append(
                f"licensed PUC check / /healthz, {conn}: {puc / health:.2f}x "
                f"(the issue's goal: >= {goal}x); p99 "
                f"{median_of(rows, 'after', 'puc', conn, 'p99_ms'):.1f} ms (goal < 25 ms)"
            )
    return "\n".join(lines)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def profile(
    tree: str,
    root: Path,
    config: run.ServerConfig,
    requests: list[dict[str, Any]],
    args: argparse.Namespace,
    workdir: Path,
) -> Path:
    """Sample one worker with py-spy while wrk drives the licensed PUC check (keep-alive)."""
    server = run.Server(
        config, role="updates", port=run.PORT_UPDATES, logdir=workdir, root=root, tag=f"-{tree}"
    )
    out = workdir / f"profile-{tree}.txt"
    try:
        server.wait_ready()
        script = workdir / f"profile-{tree}.lua"
        run.write_lua(script, requests, close=False)
        run.run_wrk(script, server.port, 2, server)  # warm
        worker = (children_of(server.proc.pid) or [server.proc.pid])[0]
        spy = subprocess.Popen(
            [
                str(run.VENV_BIN / "py-spy"),
                *("record", "--pid", str(worker), "--duration", str(args.duration)),
                *("--rate", "400", "--format", "raw", "--output", str(out), "--nonblocking"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        run.run_wrk(script, server.port, args.duration, server)
        spy.wait(timeout=args.duration + 30)
    finally:
        server.stop()
    return out


# Where a warm check's time goes, by the first matching frame from the top of each stack.
PROFILE_PARTS = (
    ("request parsing (QueryDict, POST, headers)", ("django/http/request.py", "wsgi.py:GET")),
    ("JSON encoding of the answer", ("json/encoder.py", "json/__init__.py")),
    ("download token (signing)", ("package_tokens.py", "django/core/signing.py")),
    ("near cache (poll, lookups)", ("nearcache.py",)),
    ("license state check", ("licenses/state.py",)),
    ("site normalisation", ("licenses/sites.py",)),
    ("key hash", ("licenses/keys.py",)),
    ("offer logic (release choice, outcome)", ("delivery/offers.py",)),
    ("hot cache (Redis client, fills)", ("delivery/hotcache.py", "redis/")),
    ("metrics (prometheus)", ("prometheus_client", "django_prometheus", "updates/metrics.py")),
    ("database connection checks", ("django/db/", "django/utils/connection.py", "asgiref/")),
    ("settings lookups", ("django/utils/functional.py", "django/conf/")),
    ("request id, client address", ("apps/core/logging.py", "apps/core/throttle.py")),
    ("lean path (routing, origin, headers, finishing)", ("updates/api/lean.py",)),
    ("the dialect's view (parameters, document)", ("updates/api/",)),
    (
        "Django middleware and URL resolution",
        ("django/core/handlers", "django/middleware", "django/urls", "apps/core/"),
    ),
    ("response object", ("django/http/response.py",)),
    ("server (granian/gunicorn, WSGI glue)", ("granian", "gunicorn")),
)


def profile_summary(path: Path, total_us: float) -> str:
    """Attribute each sampled stack to the innermost part it is in; µs per request."""
    counts: dict[str, int] = {}
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames = stack.split(";")
        n = int(count_text)
        samples += n
        part = "other"
        for frame in reversed(frames):
            hit = next(
                (name for name, keys in PROFILE_PARTS if any(k in frame for k in keys)), None
            )
            if hit:
                part = hit
                break
        counts[part] = counts.get(part, 0) + n
    lines = [f"{samples} samples; µs per request of the {total_us:.0f} µs the worker spent"]
    for part, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {n / samples * total_us:6.0f} µs  {n / samples * 100:5.1f}%  {part}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--before", default="origin/main", help="git ref of the baseline")
    parser.add_argument("--config", default="granian-2x1", choices=sorted(run.CONFIGS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=6, help="seconds per wrk run")
    parser.add_argument("--warm", type=int, default=1, help="seconds of warm-up per run")
    parser.add_argument("--max-others", type=float, default=15.0)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--skip-prepare", action="store_true")
    parser.add_argument(
        "--profile", action="store_true", help="also sample a worker of each with py-spy"
    )
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "depot-bench-hot"))
    args = parser.parse_args()
    config = run.CONFIGS[args.config]
    run.prerequisites([config])
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rev = subprocess.run(
        ["git", "rev-parse", "--short", args.before],
        cwd=run.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(
        f"bench/updates/hot: before {args.before} ({rev}) vs this tree, {config.label()}, "
        f"wrk {run.THREADS} threads x {run.CONNECTIONS} connections, {args.duration} s per "
        f"run, {args.rounds} interleaved rounds; logs in {workdir}",
        flush=True,
    )
    if args.skip_prepare:
        import json

        fx = json.loads((workdir / "fixtures.json").read_text())
    else:
        fx = run.prepare(workdir)
    wanted = [n for n in args.scenarios.split(",") if n]
    scenarios = {k: v for k, v in scenarios_build(fx).items() if k in wanted}
    before_root = worktree_add(args.before)
    rows: list[run.Row] = []
    try:
        for n in range(args.rounds):
            order = [("before", before_root), ("after", run.ROOT)]
            if n % 2:
                order.reverse()
            for tree, root in order:
                print(f"\n== round {n + 1}, {tree} ==", flush=True)
                rows += serve_and_measure(tree, root, config, scenarios, args, workdir)
    finally:
        worktree_remove(before_root)
    text = report(rows, f"{args.before} ({rev})")
    if args.profile:
        before_root = worktree_add(args.before)
        try:
            for tree, root in (("before", before_root), ("after", run.ROOT)):
                out = profile(tree, root, config, scenarios["puc"], args, workdir)
                cpu = median_of(rows, tree, "puc", "keep-alive", "server_cpu_us") / config.workers
                text += f"\n\nprofile of one worker, licensed PUC check, {tree} ({out}):\n"
                text += profile_summary(out, cpu * config.workers)
        finally:
            worktree_remove(before_root)
    print("\n" + text)
    (workdir / "hot-results.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
