"""`make load`'s harness, in small: a short mixed run against a stack of its own, no faults.

bench/load/run.py starts `make stack` (deploy/stack/run.py) on free ports with a database,
Redis db and vhost named for this test, runs Locust's buyers, sites and an admin for 15 s,
drains, checks the invariants (its exit status) and writes the report; then nothing of the
stack may be left running. No timing is asserted: this keeps the harness from rotting (a
changed page, form or endpoint breaks the users; a lost receipt or license breaks an
invariant), it measures nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.deploy.test_stack import _database_drop, _vhost_drop, listening, stack_pids
from tests.helpers import STACK_PORTS, stack_env

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.real_services]


def test_a_short_mixed_load_run_holds_every_invariant_and_leaves_nothing_running(
    tmp_path: Path,
) -> None:
    # Not imported here: locust patches the standard library (gevent) as it is imported.
    if importlib.util.find_spec("locust") is None:
        pytest.skip("locust is not installed (requirements/dev.txt)")
    if not (shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)):
        pytest.skip("no nginx binary (`make test` installs Debian's as root)")
    if settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1] != "mysql":
        pytest.skip("the stack runs on MariaDB")
    # Given a stack of its own on the test run's services: free ports, its own names
    name = f"depot_load_test_{os.getpid()}"
    env = stack_env(name)
    ports = {port: int(env[f"DEPOT_STACK_{port}_PORT"]) for port in STACK_PORTS}
    env.update(
        # Every buyer signs in afterwards and applies the coupon: each path runs.
        LOAD_SIGN_IN_SHARE="1",
        LOAD_COUPON_SHARE="1",
        LOAD_DOWNLOAD_SHARE="1",
    )
    directory, out = tmp_path / "stack", tmp_path / "out"
    try:
        # When the harness runs the mixed scenario for 15 s without faults
        done = subprocess.run(
            [
                sys.executable,
                "bench/load/run.py",
                *("--scenario", "mixed", "--users", "8", "--ramp", "2", "--duration", "15"),
                *("--faults", "none", "--licenses", "100", "--drain", "90"),
                *("--stack-dir", str(directory), "--out", str(out)),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=420,
        )
        printed = done.stdout + done.stderr

        # Then every invariant held (the exit status counts the broken ones) and was printed
        assert done.returncode == 0, printed[-6000:]
        invariants = json.loads((out / "invariants.json").read_text())
        assert invariants and all(i["held"] for i in invariants), invariants
        assert "HELD   one receipt per paid order at the SMTP sink" in printed
        # And buyers paid and saw their key, sites checked, the admin opened a report
        buyers = [json.loads(line) for line in (out / "buyers.jsonl").read_text().splitlines()]
        assert any(b["paid"] and b["key_seen"] for b in buyers), buyers
        seen = {line.split(",")[1] for line in (out / "requests.csv").read_text().splitlines()}
        assert {"/checkout/ (pay)", "/updates/puc/[slug]/", "/?edd_action=get_version"} <= seen
        assert "/updates/v1/check" in seen and "/admin/store/order/" in seen, seen
        # And the report was written, and nothing of the stack is left
        assert "## Invariants" in (out / "summary.md").read_text()
        assert not stack_pids(directory)
        assert not any(map(listening, ports.values())), ports
    finally:
        # A run cut short (timeout) leaves its stack: stop it by its run directory.
        subprocess.run(
            [sys.executable, "deploy/stack/run.py", "down"],
            cwd=ROOT,
            env={**env, "DEPOT_STACK_DIR": str(directory)},
            capture_output=True,
            timeout=120,
        )
        _database_drop(name)
        _vhost_drop(name)
