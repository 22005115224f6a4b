"""db_export's memory stays flat as the table grows (the figures: bench/backups/run.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

pytestmark = [pytest.mark.real_services]

ROOT = Path(__file__).resolve().parents[2]
# Peak RSS is inherited across fork and exec (Linux keeps the old image's high-water mark):
# a small launcher process forks the command, so the figure is the command's own.
LAUNCHER = (
    "import os, sys; pid = os.fork()\n"
    "if pid == 0: os.execv(sys.argv[1], sys.argv[1:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "print(usage.ru_maxrss, file=sys.stderr); sys.exit(os.waitstatus_to_exitcode(status))"
)


def _mariadb(statement: str) -> None:
    db = settings.DATABASES["default"]
    subprocess.run(
        ["mariadb", "-h", db["HOST"], "-P", str(db["PORT"] or 3306), "-u", db["USER"]],
        input=statement.encode(),
        check=True,
    )


def _export_peak(url: str, out: Path) -> tuple[float, int]:
    """Run db_export in its own process; return its peak RSS (MB) and the SQL's size."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", "DATABASE_URL": url}
    env.pop("DEPOT_BACKUP_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, sys.executable, "manage.py", "db_export",
         "--output", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    peak_kb = int(done.stderr.strip().splitlines()[-1])
    [manifest] = out.glob("*.json")
    return peak_kb / 1024, json.loads(manifest.read_text())["uncompressed_size"]


def test_db_export_memory_stays_flat_on_a_large_table(tmp_path: Path):
    # Given a private database with a small table, then with one 100 times larger (~50 MB SQL)
    db = settings.DATABASES["default"]
    name = f"{connection.settings_dict['NAME']}_memory_{uuid.uuid4().hex[:6]}"
    url = f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 3306}/{name}"
    figures = []
    try:
        for rows in (2_000, 200_000):
            _mariadb(
                f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}`; USE `{name}`;"  # noqa: S608
                "CREATE TABLE filler (id BIGINT PRIMARY KEY, a CHAR(32), b CHAR(64), "
                "c VARCHAR(200)); INSERT INTO filler SELECT seq, MD5(seq), SHA2(seq, 256), "
                f"CONCAT(SHA2(seq * 7, 256), SHA2(seq * 13, 256)) FROM seq_1_to_{rows};"
            )
            out = tmp_path / str(rows)
            out.mkdir()
            # When each is exported in a process of its own
            figures.append(_export_peak(url, out))
    finally:
        _mariadb(f"DROP DATABASE IF EXISTS `{name}`")
    (small_peak, small_sql), (large_peak, large_sql) = figures
    print(
        f"\ndb_export peak RSS: {small_peak:.1f} MB for {small_sql / 1e6:.1f} MB of SQL, "
        f"{large_peak:.1f} MB for {large_sql / 1e6:.1f} MB of SQL"
    )
    # Then the peak grows by far less than the dump did (no timing here: bench/backups)
    assert large_sql - small_sql > 40e6
    assert large_peak - small_peak < 16
