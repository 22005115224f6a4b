"""The load run's report: PNG plots and summary.md in the run's out directory (bench/load/run.py).

    .venv/bin/python bench/load/report.py bench/load/report/latest [--baseline DIR]

From requests.csv (every request: time, name, ms, status, failed), windows.jsonl (the faults),
samples.jsonl (connections, memory, CPU), run.json and invariants.json:

- requests.png: requests per second per endpoint, fault windows shaded;
- latency.png: p50, p95 and p99 per 5 s of the checkout and the update checks, shaded;
- errors.png: failed requests per second per endpoint, shaded;
- resources.png: MariaDB connections, Redis memory, each role's resident memory;
- summary.md: the invariants, then per phase (ramp, steady, each fault window) the checkout's
  p95 and the update checks' p99, the error count, how long after each fault's end the errors
  stopped, CPU seconds per request per role; with --baseline, a fault-free run beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHECKOUT = "/checkout/ (pay)"
UPDATE_CHECKS = ("/updates/puc/[slug]/", "/?edd_action=get_version", "/updates/v1/check")


@dataclass
class Row:
    t: float
    name: str
    ms: float
    status: int
    failed: bool


def _rows(out: Path) -> list[Row]:
    path = out / "requests.csv"
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.rsplit(",", 3)
            head, status, failed = parts[0], parts[2], parts[3]
            t, _, rest = head.partition(",")
            name, ms = rest, parts[1]
            try:
                rows.append(Row(float(t), name, float(ms), int(status), failed == "1"))
            except ValueError:
                continue
    return sorted(rows, key=lambda r: r.t)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def answered(row: Row) -> bool:
    """A request the application answered: not failed, not refused by a rate limit (429).

    A 429 from nginx or the app costs next to nothing and would pull the percentiles down.
    """
    return not row.failed and row.status != 429


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def phases(run: dict[str, Any], windows: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """(label, start, end): the ramp, the fault windows, and the steady time between them."""
    t0, t_end = run.get("t0", 0.0), run.get("t_end", 0.0)
    ramp_end = min(t0 + run.get("ramp", 60), t_end)
    out = [("ramp", t0, ramp_end)]
    cursor = ramp_end
    for window in sorted(windows, key=lambda w: w["start"]):
        start, end = max(window["start"], cursor), min(window["end"], t_end)
        if start > cursor:
            out.append(("steady", cursor, start))
        if end > start:
            out.append((window["name"], start, end))
        cursor = max(cursor, end)
    if t_end > cursor:
        out.append(("steady", cursor, t_end))
    return out


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def recovery(rows: list[Row], windows: list[dict[str, Any]], t_end: float) -> list[str]:
    """Per fault: seconds after its window's end until the last failed request it caused."""
    lines = []
    ordered = sorted(windows, key=lambda w: w["start"])
    for i, window in enumerate(ordered):
        until = ordered[i + 1]["start"] if i + 1 < len(ordered) else t_end
        failed = [r.t for r in rows if r.failed and window["start"] <= r.t < until]
        if not failed:
            lines.append(f"| {window['name']} | {window['note']} | 0 | no failed request |")
            continue
        after = max(0.0, max(failed) - window["end"])
        lines.append(
            f"| {window['name']} | {window['note']} | {len(failed)} | "
            f"errors stopped {after:.1f} s after the fault ended |"
        )
    return lines


def _phase_table(rows: list[Row], run: dict[str, Any], windows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| phase | from (s) | to (s) | requests | failed | 429 | checkout p95 (ms) "
        "| update-check p99 (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    t0 = run.get("t0", 0.0)
    for label, start, end in phases(run, windows):
        inside = [r for r in rows if start <= r.t < end]
        checkout = [r.ms for r in inside if r.name == CHECKOUT and answered(r)]
        checks = [r.ms for r in inside if r.name in UPDATE_CHECKS and answered(r)]
        lines.append(
            f"| {label} | {start - t0:.0f} | {end - t0:.0f} | {len(inside)} | "
            f"{sum(r.failed for r in inside)} | {sum(r.status == 429 for r in inside)} | "
            f"{_fmt(percentile(checkout, 95))} | "
            f"{_fmt(percentile(checks, 99))} |"
        )
    return lines


def _cpu_per_request(out: Path, rows: list[Row]) -> list[str]:
    samples = _jsonl(out / "samples.jsonl")
    if len(samples) < 2 or not rows:
        return ["(no samples)"]
    first, last = samples[0], samples[-1]
    web = sum(1 for r in rows if not r.name.startswith(("/updates/", "/?edd", "S3")))
    # nginx's 429s never reach the updates role: they are not its work.
    updates = sum(1 for r in rows if r.name.startswith(("/updates/", "/?edd")) and r.status != 429)
    paid = sum(1 for b in _jsonl(out / "buyers.jsonl") if b.get("paid"))
    lines = ["| role | CPU s | per unit (ms) | unit (count) |", "|---|---|---|---|"]
    for role in ("nginx", "web", "updates", "pipeline", "mail", "beat", "s3", "smtp"):
        if role not in first["cpu"] or role not in last["cpu"]:
            continue
        used = last["cpu"][role] - first["cpu"][role]
        basis, count = {
            "web": ("store requests", web),
            "updates": ("update requests", updates),
            "pipeline": ("paid orders", paid),
            "mail": ("paid orders", paid),
        }.get(role, ("all requests", len(rows)))
        each = f"{1000 * used / count:.2f}" if count else "-"
        lines.append(f"| {role} | {used:.1f} | {each} | {basis} ({count}) |")
    return lines


def _summary(out: Path, baseline: Path | None) -> str:
    run = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    windows = _jsonl(out / "windows.jsonl")
    rows = _rows(out)
    invariants = (
        json.loads((out / "invariants.json").read_text())
        if (out / "invariants.json").exists()
        else []
    )
    buyers = _jsonl(out / "buyers.jsonl")
    signins = _jsonl(out / "signins.jsonl")
    seen = [b["seconds_to_key"] for b in buyers if b.get("seconds_to_key") is not None]
    text = [
        f"# Load run: {run.get('scenario', '?')}, faults {run.get('faults', '?')}",
        "",
        f"{run.get('users')} users (ramp {run.get('ramp')} s), {run.get('duration')} s, "
        f"{run.get('licenses')} seeded licenses, {run.get('cores')} cores shared by the stack "
        f"and Locust; drained in {run.get('drain_seconds')} s. Figures from this machine are "
        "ratios and per-request costs, not throughput claims (docs/capacity.md).",
        "",
        "## Invariants",
        "",
        *[
            f"- {'held' if i['held'] else '**BROKEN**'}: {i['name']}: {i['detail']}"
            for i in invariants
        ],
        "",
        "## Per phase",
        "",
        *_phase_table(rows, run, windows),
        "",
        f"Buyers: {sum(1 for b in buyers if b.get('paid'))} paid, "
        f"{sum(1 for b in buyers if b.get('key_seen'))} saw their key on the confirmation page "
        f"(median {_fmt(percentile(seen, 50))} s, p95 {_fmt(percentile(seen, 95))} s after "
        f"paying); sign-ins {sum(1 for s in signins if s.get('ok'))} of {len(signins)}.",
        "",
        "## Faults and recovery",
        "",
        "| fault | what | failed requests | recovery |",
        "|---|---|---|---|",
        *recovery(rows, windows, run.get("t_end", 0.0)),
        "",
        "## CPU per unit of work",
        "",
        *_cpu_per_request(out, rows),
        "",
        "Plots: requests.png, latency.png, errors.png, resources.png (fault windows shaded).",
    ]
    if baseline is not None and (baseline / "run.json").exists():
        base_run = json.loads((baseline / "run.json").read_text())
        text += [
            "",
            f"## Baseline without faults ({baseline})",
            "",
            *_phase_table(_rows(baseline), base_run, []),
        ]
    return "\n".join(text) + "\n"


def _shade(axes: Any, windows: list[dict[str, Any]], t0: float) -> None:
    for window in windows:
        axes.axvspan(window["start"] - t0, window["end"] - t0, color="red", alpha=0.12)
        axes.text(
            window["start"] - t0,
            1.0,
            window["name"],
            transform=axes.get_xaxis_transform(),
            fontsize=7,
            va="top",
            rotation=90,
        )


def plots(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    windows = _jsonl(out / "windows.jsonl")
    rows = _rows(out)
    t0 = run.get("t0", rows[0].t if rows else 0.0)
    per_second: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    failed: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        second = int(r.t - t0)
        per_second[r.name][second] += 1
        if r.failed:
            failed[r.name][second] += 1

    def _lines(data: dict[str, dict[int, int]], title: str, file: str, ylabel: str) -> None:
        figure, axes = plt.subplots(figsize=(12, 5))
        last = max((max(counts) for counts in data.values() if counts), default=0)
        xs = list(range(last + 1))  # a second without requests is a 0, not a gap
        for name, counts in sorted(data.items()):
            axes.plot(xs, [counts.get(x, 0) for x in xs], label=name, linewidth=0.8)
        _shade(axes, windows, t0)
        axes.set(title=title, xlabel="seconds since start", ylabel=ylabel)
        if data:
            axes.legend(fontsize=7, loc="upper left", ncol=2)
        figure.tight_layout()
        figure.savefig(out / file, dpi=100)
        plt.close(figure)

    _lines(per_second, "Requests per second per endpoint", "requests.png", "req/s")
    _lines(failed, "Failed requests per second per endpoint", "errors.png", "failures/s")

    figure, panels = plt.subplots(2, 1, figsize=(12, 8), sharex=True)
    for axes, names, title in (
        (panels[0], (CHECKOUT,), "Checkout (pay) latency per 5 s"),
        (panels[1], UPDATE_CHECKS, "Update-check latency per 5 s (PUC, EDD, native)"),
    ):
        buckets: dict[int, list[float]] = defaultdict(list)
        for r in rows:
            if r.name in names and answered(r):
                buckets[int(r.t - t0) // 5 * 5].append(r.ms)
        xs = sorted(buckets)
        for q in (50, 95, 99):
            axes.plot(xs, [percentile(buckets[x], q) for x in xs], label=f"p{q}")
        _shade(axes, windows, t0)
        axes.set(title=title, ylabel="ms")
        axes.legend(fontsize=8)
    panels[1].set_xlabel("seconds since start")
    figure.tight_layout()
    figure.savefig(out / "latency.png", dpi=100)
    plt.close(figure)

    samples = _jsonl(out / "samples.jsonl")
    figure, panels = plt.subplots(3, 1, figsize=(12, 9), sharex=True)
    xs = [s["t"] - t0 for s in samples]
    panels[0].plot(xs, [s["db_connections"] for s in samples], label="MariaDB connections")
    panels[0].set(title="MariaDB connections (sampled each second)", ylabel="connections")
    panels[1].plot(
        xs, [(s["redis_memory"] or 0) / 2**20 if s["redis_memory"] else None for s in samples]
    )
    panels[1].set(title="Redis used_memory", ylabel="MB")
    roles = sorted({role for s in samples for role in s["rss"]})
    for role in roles:
        panels[2].plot(xs, [s["rss"].get(role, 0) / 2**20 for s in samples], label=role)
    panels[2].set(title="Resident memory per role (all its processes)", ylabel="MB")
    panels[2].legend(fontsize=7, ncol=4)
    for axes in panels:
        _shade(axes, windows, t0)
    panels[2].set_xlabel("seconds since start")
    figure.tight_layout()
    figure.savefig(out / "resources.png", dpi=100)
    plt.close(figure)


def report(out: Path, baseline: Path | None = None) -> Path:
    """Write the plots and summary.md into `out`; return the summary's path.

    Without matplotlib (requirements/bench.txt; the test suite's smoke run has only dev.txt)
    the summary is written and the plots are left out.
    """
    try:
        plots(out)
    except ImportError as error:
        print(f"report: no plots ({error}); requirements/bench.txt has matplotlib", flush=True)
    summary = out / "summary.md"
    summary.write_text(_summary(out, baseline))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--baseline", type=Path)
    args = parser.parse_args(argv)
    print(report(args.out, args.baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
