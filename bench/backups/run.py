"""bench/backups: peak memory of db_export, db_backup (to S3) and db_import, small vs large table.

    .venv/bin/python bench/backups/run.py                 # 10k vs 1M rows (~330 MB of SQL)
    .venv/bin/python bench/backups/run.py --rows 10000 200000

Fills a table in the MariaDB database `depot_bench_backups` (dropped and recreated; the
import goes into `depot_bench_backups_restore`, dropped too; both are dropped at the end),
then runs each command in its own process and reads that process's peak RSS (wait4's
ru_maxrss, from a small launcher so nothing of this process's is inherited; mariadb-dump and
the mariadb client are separate processes, not counted). Side by side: the same command on
the small table, the baseline. Flat memory means the large table's peak is about the small
one's although its dump is 100 times the size. Prints
figures; asserts nothing. moto (server mode, on a free port of 127.0.0.1) is the S3 endpoint.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
SERVER = "mysql://root:@127.0.0.1:3306"
DATABASE = "depot_bench_backups"
# Peak RSS is inherited across fork and exec (Linux keeps the old image's high-water mark):
# a small launcher process forks the command, so the figure is the command's own.
LAUNCHER = (
    "import os, sys; pid = os.fork()\n"
    "if pid == 0: os.execv(sys.argv[1], sys.argv[1:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "print(usage.ru_maxrss, file=sys.stderr); sys.exit(os.waitstatus_to_exitcode(status))"
)
RESTORE = "depot_bench_backups_restore"


def sql(statement: str, database: str = "") -> None:
    subprocess.run(
        ["mariadb", "-h", "127.0.0.1", "-u", "root", *([database] if database else [])],
        input=statement.encode(),
        check=True,
    )


def table_fill(rows: int, env: dict[str, str]) -> None:
    """Recreate the bench database (Depot's tables) plus `rows` rows of ~330 bytes of SQL."""
    sql(f"DROP DATABASE IF EXISTS `{DATABASE}`; CREATE DATABASE `{DATABASE}`;")
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    sql(
        "CREATE TABLE filler (id BIGINT PRIMARY KEY, a CHAR(32), b CHAR(64), c VARCHAR(200));"  # noqa: S608
        f"INSERT INTO filler SELECT seq, MD5(seq), SHA2(seq, 256), "
        f"CONCAT(SHA2(seq * 7, 256), SHA2(seq * 13, 256)) FROM seq_1_to_{rows};",
        DATABASE,
    )


def peak_mb(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run a manage.py command; return its peak RSS in MB and its seconds."""
    started = time.monotonic()
    done = subprocess.run(
        [PYTHON, "-c", LAUNCHER, PYTHON, "manage.py", *args],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed with {done.returncode}: {done.stderr}")
    return int(done.stderr.strip().splitlines()[-1]) / 1024, time.monotonic() - started


def moto_start() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return process, endpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs=2, default=[10_000, 1_000_000])
    options = parser.parse_args()
    moto, endpoint = moto_start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_S3_REGION_NAME": "us-east-1",
        "DEPOT_BACKUP_BUCKET": "depot-bench-backups",
        "DEPOT_BACKUP_DIR": "",
    }
    import boto3

    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="bench", aws_secret_access_key="bench-secret",  # noqa: S106
    ).create_bucket(Bucket="depot-bench-backups")  # fmt: skip
    results = []
    try:
        for rows in options.rows:
            table_fill(rows, env)
            with tempfile.TemporaryDirectory() as scratch:
                export, export_s = peak_mb(["db_export", "--output", scratch], env)
                [dump] = Path(scratch).glob("*.sql.gz")
                manifest = dump.with_name(dump.name.replace(".sql.gz", ".json")).read_text()
                raw = int(manifest.split('"uncompressed_size": ')[1].split(",")[0])
                backup, backup_s = peak_mb(["db_backup", "--no-prune"], env)
                sql(f"DROP DATABASE IF EXISTS `{RESTORE}`")
                restore, restore_s = peak_mb(["db_import", str(dump), "--database", RESTORE], env)
                results.append((rows, raw, dump.stat().st_size, export, backup, restore,
                                export_s, backup_s, restore_s))  # fmt: skip
    finally:
        moto.terminate()
        moto.wait()
        sql(f"DROP DATABASE IF EXISTS `{DATABASE}`; DROP DATABASE IF EXISTS `{RESTORE}`;")
    print(f"{'rows':>9} {'SQL MB':>8} {'gzip MB':>8} | peak RSS MB: {'db_export':>9} "
          f"{'db_backup':>9} {'db_import':>9} | seconds: export backup import")  # fmt: skip
    for rows, raw, size, export, backup, restore, e_s, b_s, r_s in results:
        print(
            f"{rows:>9} {raw / 1e6:>8.1f} {size / 1e6:>8.1f} |              {export:>9.1f} "
            f"{backup:>9.1f} {restore:>9.1f} |          {e_s:>6.1f} {b_s:>6.1f} {r_s:>6.1f}"
        )
    (small, large) = results[0], results[-1]
    print(
        f"large/small: SQL x{large[1] / small[1]:.0f}; peak RSS x{large[3] / small[3]:.2f} "
        f"(export), x{large[4] / small[4]:.2f} (backup), x{large[5] / small[5]:.2f} (import)"
    )


if __name__ == "__main__":
    main()
