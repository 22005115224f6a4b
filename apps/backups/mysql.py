"""The MySQL/MariaDB client programs, driven as streams: dump out, import in.

mariadb-dump writes to a pipe that this process reads in 1 MiB chunks, gzips, hashes and
hands on (to a file or an S3 multipart upload); an import reads chunks, hashes, gunzips with
a bounded output per step and writes them to the client's stdin. Memory stays a few MiB
whatever the size of the database. Credentials reach the programs in a 0600 option file,
never on the command line (which `ps` shows to every user of the host).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from apps.backups.errors import BackupError

CHUNK = 1024 * 1024
# gzip level 6 (gzip's own default): about 5:1 on a dump at ~40 MB/s a core. zstd would be
# faster, but every operator's machine has gunzip and Python's zlib needs no extra package.
GZIP_LEVEL = 6
DUMP_FLAGS = [
    # One consistent snapshot (REPEATABLE READ) instead of table locks: the store keeps selling.
    "--single-transaction",
    "--routines",
    "--triggers",
    # Rows streamed from the server one at a time, not buffered whole tables.
    "--quick",
    "--hex-blob",
    "--default-character-set=utf8mb4",
    # Tablespace statements need the PROCESS privilege and are not restorable elsewhere.
    "--no-tablespaces",
]


@dataclass(frozen=True)
class Server:
    """Where a database lives and how to log in; `database` names the one meant."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def from_settings(cls, entry: dict[str, Any]) -> Server:
        """Build from a DATABASES entry; refuse anything but MySQL/MariaDB."""
        if "mysql" not in entry["ENGINE"]:
            raise BackupError(
                "backups need MySQL or MariaDB; this database is "
                f"{entry['ENGINE'].rsplit('.', 1)[-1]} (the embedded default is SQLite: copy "
                'db.sqlite3 with `sqlite3 db.sqlite3 ".backup copy.sqlite3"` instead)'
            )
        return cls(
            host=entry.get("HOST") or "127.0.0.1",
            port=int(entry.get("PORT") or 3306),
            user=entry.get("USER") or "",
            password=entry.get("PASSWORD") or "",
            database=entry["NAME"],
        )

    def named(self, database: str) -> Server:
        return replace(self, database=database)

    def connect(self, *, database: bool = True) -> Any:
        import MySQLdb

        try:
            return MySQLdb.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                passwd=self.password,
                db=self.database if database else "",
                charset="utf8mb4",
                connect_timeout=10,
            )
        except MySQLdb.OperationalError as exc:
            raise BackupError(f"cannot connect to {self}: {exc.args[-1]}") from exc

    def __str__(self) -> str:
        return f"{self.database} on {self.user}@{self.host}:{self.port}"


def program(*names: str) -> str:
    """Return the first of these client programs on PATH, or say plainly that none is."""
    for name in names:
        if found := shutil.which(name):
            return found
    raise BackupError(
        f"{' or '.join(names)} is not installed (not on PATH): install the MariaDB client "
        "programs (Debian: apt-get install mariadb-client)"
    )


@contextlib.contextmanager
def option_file(server: Server) -> Iterator[str]:
    """Yield the path of a [client] option file with the login, removed afterwards."""

    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    with tempfile.NamedTemporaryFile("w", prefix="depot-my-", suffix=".cnf") as handle:
        # NamedTemporaryFile is created 0600: only this user can read the password.
        lines = ["[client]", f"user={quoted(server.user)}", f"password={quoted(server.password)}"]
        if server.host.startswith("/"):
            lines.append(f"socket={quoted(server.host)}")
        else:
            lines += [f"host={quoted(server.host)}", f"port={server.port}"]
        handle.write("\n".join(lines) + "\n")
        handle.flush()
        yield handle.name


def _failure(tool: str, code: int, stderr: str) -> BackupError:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    said = " / ".join(lines[-3:]) or "no message"
    hint = ""
    if "Access denied" in stderr or "1045" in stderr:
        hint = " (the user or password of the database is wrong, or lacks a privilege)"
    elif "Unknown database" in stderr or "1049" in stderr:
        hint = " (no database of that name on the server)"
    return BackupError(f"{Path(tool).name} failed with exit status {code}: {said}{hint}")


class Writable(Protocol):
    """Where progress goes: sys.stderr, or a command's self.stderr."""

    def write(self, text: str, /) -> Any: ...
    def flush(self) -> Any: ...


class Progress:
    """Bytes so far on stderr, at most once a second, and a last line when done."""

    def __init__(self, label: str, stream: Writable | None = None, every: float = 1.0) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.every = every
        self.bytes = 0
        self.started = time.monotonic()
        self._last = self.started

    def add(self, count: int) -> None:
        self.bytes += count
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._say()

    def done(self) -> None:
        self._say(final=True)

    def _say(self, *, final: bool = False) -> None:
        seconds = time.monotonic() - self.started
        word = "done" if final else "so far"
        self.stream.write(f"{self.label}: {_mb(self.bytes)} {word} ({seconds:.0f} s)\n")
        self.stream.flush()


def _mb(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


class DumpReader(io.RawIOBase):
    """A readable stream of the gzipped dump, hashed and counted as it is read.

    read(n) returns exactly n bytes until the end (S3 multipart parts must be full-size but
    the last); at the end it checks the dump's exit status and raises BackupError if the dump
    failed, so an upload in progress is aborted rather than completed with half a database.
    """

    def __init__(self, server: Server, progress: Progress | None = None) -> None:
        super().__init__()
        self.server = server
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.raw_size = 0
        self.progress = progress
        self._buffer = bytearray()
        self._gzip = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
        self._ended = False
        self._stack = contextlib.ExitStack()
        self.tool = program("mariadb-dump", "mysqldump")
        options = self._stack.enter_context(option_file(server))
        self._stderr = self._stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
        self._process = subprocess.Popen(
            [self.tool, f"--defaults-extra-file={options}", *DUMP_FLAGS, server.database],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self._stack.callback(self._stop)

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        view = memoryview(target).cast("B")
        wanted = len(view)
        while len(self._buffer) < wanted and not self._ended:
            assert self._process.stdout is not None
            chunk = self._process.stdout.read(CHUNK)
            if chunk:
                self.raw_size += len(chunk)
                self._buffer += self._gzip.compress(chunk)
            else:
                self._buffer += self._gzip.flush()
                self._ended = True
                self._check()
        count = min(wanted, len(self._buffer))
        view[:count] = self._buffer[:count]
        self.sha256.update(view[:count])
        del self._buffer[:count]
        self.size += count
        if self.progress is not None:
            self.progress.add(count)
        return count

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        target = bytearray(size)
        count = self.readinto(target)
        return bytes(target[:count])

    def _check(self) -> None:
        code = self._process.wait()
        if code != 0:
            self._stderr.seek(0)
            raise _failure(self.tool, code, self._stderr.read().decode(errors="replace"))

    def _stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def close(self) -> None:
        self._stack.close()
        super().close()


def import_stream(
    server: Server, chunks: Iterable[bytes], progress: Progress | None = None
) -> None:
    """Feed a gzipped dump, chunk by chunk, to the client program into `server.database`."""
    tool = program("mariadb", "mysql")
    gunzip = zlib.decompressobj(31)
    with option_file(server) as options, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [
                tool,
                f"--defaults-extra-file={options}",
                "--default-character-set=utf8mb4",
                "--batch",
                server.database,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        assert process.stdin is not None
        try:
            for chunk in chunks:
                data = chunk
                # Bounded output per step: a MiB of gzip can stand for a GB of repeated rows.
                while data:
                    process.stdin.write(gunzip.decompress(data, CHUNK))
                    data = gunzip.unconsumed_tail
                if progress is not None:
                    progress.add(len(chunk))
            if not gunzip.eof:
                raise BackupError(
                    "the dump ends early (truncated gzip stream): the file is damaged"
                )
            process.stdin.close()
        except BrokenPipeError:
            pass  # the client stopped reading: its exit status and stderr say why, below
        except zlib.error as exc:
            process.kill()
            raise BackupError(f"the dump is not valid gzip ({exc}): the file is damaged") from exc
        except BaseException:
            process.kill()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
            code = process.wait()
        if code != 0:
            stderr.seek(0)
            raise _failure(tool, code, stderr.read().decode(errors="replace"))
