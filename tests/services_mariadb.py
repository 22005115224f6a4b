"""A private MariaDB server for tests that stop the database (never the shared one on 3306).

    def test_x(private_mariadb: PrivateMariaDB) -> None:
        url = private_mariadb.url("depot")  # DATABASE_URL of a process the test starts
        private_mariadb.stop()              # SIGTERM, a clean shutdown; kill=True: SIGKILL
        private_mariadb.start()             # the same data directory and port again

`mariadb-install-db` makes a data directory under pytest's tmp directory, and `mariadbd` runs
on a free port of 127.0.0.1 with its socket and pid file there too (`--no-defaults`: nothing
of the shared server's configuration is read). The fixture is module-scoped (an install and a
start take ~3 s) and kills the server at teardown whatever the tests did to it.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import free_port, process_stop


class PrivateMariaDB:
    """One mariadbd subprocess with its own data directory; stop and start keep its port."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.datadir = base / "data"
        self.socket = base / "mariadb.sock"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        return f"mysql://root:@127.0.0.1:{self.port}/{database}"

    def install(self) -> None:
        """Create the system tables; root logs in over TCP without a password."""
        done = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                # As root, the server and its files must belong to root, not to `mysql`.
                "--user=root",
            ],
            capture_output=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {done.stderr.decode()[-2000:]}")

    def start(self, timeout: float = 30) -> float:
        """Start the server on its port and wait until it takes a login; return the seconds."""
        started = time.monotonic()
        with (self.base / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "mariadbd",
                    "--no-defaults",
                    f"--datadir={self.datadir}",
                    f"--port={self.port}",
                    f"--socket={self.socket}",
                    f"--pid-file={self.base / 'mariadb.pid'}",
                    "--bind-address=127.0.0.1",
                    "--skip-networking=0",
                    "--user=root",
                    # Small and quiet: a test database, not a benchmark.
                    "--innodb-buffer-pool-size=32M",
                    "--skip-log-bin",
                    "--character-set-server=utf8mb4",
                    "--collation-server=utf8mb4_unicode_ci",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self.process.returncode}: {self.log()}")
            with contextlib.suppress(Exception):
                self.sql("SELECT 1")
                return time.monotonic() - started
            time.sleep(0.1)
        self.stop(kill=True)
        raise RuntimeError(f"mariadbd did not take a login on {self.port} within {timeout} s")

    def stop(self, *, kill: bool = False, timeout: float = 30) -> None:
        """Stop the server (SIGTERM, a clean shutdown; SIGKILL with kill=True) and wait."""
        process_stop(self.process, grace=timeout, kill=kill)

    def sql(self, statement: str, database: str = "") -> list[tuple[object, ...]]:
        """Run one statement over TCP as root; return its rows."""
        import MySQLdb

        conn = MySQLdb.connect(
            host="127.0.0.1", port=self.port, user="root", passwd="", db=database, connect_timeout=2
        )
        try:
            cursor = conn.cursor()
            cursor.execute(statement)
            rows = list(cursor.fetchall())
            conn.commit()
            return rows
        finally:
            conn.close()

    def status(self, name: str) -> int:
        """Return a global status counter, such as `Connections` (logins so far)."""
        [(_, value)] = self.sql(f"SHOW GLOBAL STATUS LIKE '{name}'")
        return int(str(value))

    def log(self) -> str:
        path = self.base / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@pytest.fixture(scope="module")
def private_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateMariaDB]:
    """A private MariaDB on a free port for this module's tests, killed at teardown."""
    if shutil.which("mariadbd") is None or shutil.which("mariadb-install-db") is None:
        pytest.skip("mariadbd and mariadb-install-db are needed")
    server = PrivateMariaDB(tmp_path_factory.mktemp("mariadb"))
    try:
        server.install()
        server.start()
        yield server
    finally:
        server.stop(kill=True)
