"""Backups of the MySQL/MariaDB database: export, upload, list, download, import, restore, prune.

A backup is two files side by side: `depot-<UTC stamp>.sql.gz` (mariadb-dump, gzipped) and
`depot-<UTC stamp>.json`, its manifest (SHA-256 and size of the .sql.gz, Depot's version, the
latest migration of each app, row counts of the main tables). Everything streams (see
apps/backups/mysql.py); a restore downloads to a temporary file first, so the checksum is
verified before a single statement reaches the target database.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import environ
from django.conf import settings
from django.db import connections
from django.utils import timezone

from apps.backups.errors import BackupError
from apps.backups.models import BackupRecord
from apps.backups.mysql import CHUNK, DumpReader, Progress, Server, Writable, import_stream
from apps.backups.retention import retention_keep
from apps.backups.scrub import scrub_database
from apps.backups.storage import BackupStore, backup_store

DUMP = ".sql.gz"
MANIFEST = ".json"
NAME = re.compile(r"^depot-(\d{8}T\d{6}Z)$")
DATABASE_NAME = re.compile(r"^[A-Za-z0-9_$-]{1,64}$")
# The tables whose row counts a manifest records, by model: what an operator checks first.
MAIN_TABLES = {
    "orders": "store.Order",
    "licenses": "licenses.License",
    "activations": "licenses.Activation",
    "releases": "updates.Release",
    "users": "auth.User",
}


@dataclass
class Listed:
    name: str
    size: int
    created: datetime
    sha256: str | None
    complete: bool


@dataclass
class Imported:
    database: str
    row_counts: dict[str, int]
    expected: dict[str, int]
    scrubbed: list[str] = field(default_factory=list)
    verified: bool = True


def backup_source() -> Server:
    """Return the database to dump: DEPOT_BACKUP_DATABASE_URL (a replica, or the primary
    behind ProxySQL) if set, else Django's default database."""
    if settings.DEPOT_BACKUP_DATABASE_URL:
        entry = environ.Env.db_url_config(settings.DEPOT_BACKUP_DATABASE_URL)
    else:
        entry = connections["default"].settings_dict
    return Server.from_settings(entry)


def backup_target(database: str, *, url: str = "") -> Server:
    """Return the database an import writes to: `database` on the source's server, or `url`."""
    server = Server.from_settings(environ.Env.db_url_config(url)) if url else backup_source()
    if not DATABASE_NAME.match(database):
        raise BackupError(f"{database!r} is not a database name (letters, digits, _ $ -)")
    return server.named(database)


def backup_name(now: datetime | None = None) -> str:
    """Return a new backup's name from its UTC time (names sort by age)."""
    return f"depot-{(now or timezone.now()).astimezone(UTC):%Y%m%dT%H%M%SZ}"


def depot_version() -> str:
    """Return `git describe` of the checkout, else the version in pyproject.toml."""
    root = Path(settings.BASE_DIR)
    if (root / ".git").exists():
        try:
            done = subprocess.run(
                ["git", "describe", "--always", "--dirty", "--tags"],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=5,
            )
            if done.returncode == 0 and done.stdout.strip():
                return done.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    match = re.search(r'^version\s*=\s*"([^"]+)"', _read(root / "pyproject.toml"), re.M)
    return match.group(1) if match else "unknown"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _table_counts(server: Server) -> dict[str, int]:
    from django.apps import apps

    connection = server.connect()
    try:
        cursor = connection.cursor()
        present = _tables(cursor)
        counts = {}
        for label, model in MAIN_TABLES.items():
            table = apps.get_model(model)._meta.db_table
            if table in present:  # a database that is not (yet) Depot's has none
                cursor.execute(f"SELECT COUNT(*) FROM `{table}`")  # noqa: S608 (a model's table)
                counts[label] = int(cursor.fetchone()[0])
        return counts
    finally:
        connection.close()


def _tables(cursor: Any) -> set[str]:
    cursor.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
    )
    return {row[0] for row in cursor.fetchall()}


def _facts(server: Server) -> dict[str, Any]:
    connection = server.connect()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT VERSION()")
        version = cursor.fetchone()[0]
        migrations = {}
        if "django_migrations" in _tables(cursor):
            # The numbered prefix makes the greatest name the latest migration of each app.
            cursor.execute("SELECT app, MAX(name) FROM django_migrations GROUP BY app ORDER BY app")
            migrations = {app: name for app, name in cursor.fetchall()}
    finally:
        connection.close()
    return {
        "database": server.database,
        "server_version": version,
        "depot_version": depot_version(),
        "migrations": migrations,
        # Counted just before the dump, in a snapshot of their own: under writes they may
        # differ from the dump by what was written in between.
        "row_counts": _table_counts(server),
    }


def _manifest(name: str, facts: dict[str, Any], reader: DumpReader, started: datetime) -> dict:
    return {
        "format": 1,
        "name": name,
        "file": name + DUMP,
        "compression": "gzip",
        "sha256": reader.sha256.hexdigest(),
        "size": reader.size,
        "uncompressed_size": reader.raw_size,
        "dump_tool": Path(reader.tool).name,
        "started_at": started.isoformat(),
        "finished_at": timezone.now().astimezone(UTC).isoformat(),
        **facts,
    }


def backup_export(*, directory: Path, stderr: Writable | None = None) -> tuple[Path, dict]:
    """Dump the database into `directory` as <name>.sql.gz and <name>.json; return both."""
    source = backup_source()
    started = timezone.now().astimezone(UTC)
    name = backup_name(started)
    facts = _facts(source)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (name + DUMP)
    partial = directory / f".{name}{DUMP}.part"
    progress = Progress("db_export", stderr)
    with DumpReader(source, progress) as reader:
        try:
            with partial.open("wb") as out:
                while chunk := reader.read(CHUNK):
                    out.write(chunk)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        progress.done()
    os.replace(partial, path)
    manifest = _manifest(name, facts, reader, started)
    (directory / (name + MANIFEST)).write_text(json.dumps(manifest, indent=2) + "\n")
    return path, manifest


class _HashingFile:
    """A file read for upload, hashed on the way (read(n) gives n bytes until the end)."""

    def __init__(self, source: IO[bytes], progress: Progress) -> None:
        self.source = source
        self.sha256 = hashlib.sha256()
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.sha256.update(data)
        self.progress.add(len(data))
        return data


def _manifest_of(path: Path) -> dict | None:
    sibling = path.with_name(path.name.removesuffix(DUMP) + MANIFEST)
    return json.loads(sibling.read_text()) if sibling.is_file() else None


def _damaged(what: str, found: str, expected: str, outcome: str) -> BackupError:
    return BackupError(
        f"{what} SHA-256 is {found}, the manifest says {expected}: the file is damaged; {outcome}"
    )


def _record(store: BackupStore, manifest: dict) -> None:
    BackupRecord.objects.create(
        name=manifest["name"],
        location=store.location,
        size=manifest["size"],
        sha256=manifest["sha256"],
        finished_at=timezone.now(),
    )


def backup_upload(*, path: Path, stderr: Writable | None = None) -> dict:
    """Upload an exported dump and its manifest, checking the dump against the manifest."""
    manifest = _manifest_of(path)
    if manifest is None or not path.name.endswith(DUMP):
        raise BackupError(f"{path} is not a db_export dump with its .json manifest beside it")
    store = backup_store()
    progress = Progress("db_upload", stderr)
    with path.open("rb") as source:
        hashing = _HashingFile(source, progress)
        store.put(path.name, hashing)  # type: ignore[arg-type]
    progress.done()
    found = hashing.sha256.hexdigest()
    if found != manifest["sha256"]:
        store.delete([path.name])
        raise _damaged("the local file's", found, manifest["sha256"], "nothing was uploaded")
    _put_manifest(store, manifest)
    _record(store, manifest)
    return manifest


def _put_manifest(store: BackupStore, manifest: dict) -> None:
    import io

    # Written after the dump: a backup without its manifest is incomplete, and ignored.
    store.put(manifest["name"] + MANIFEST, io.BytesIO(json.dumps(manifest, indent=2).encode()))


def backup_run(
    *, keep_daily: int, keep_weekly: int, prune: bool = True, stderr: Writable | None = None
) -> tuple[dict, list[str]]:
    """Dump straight into storage (no local copy), then prune; return manifest and pruned names."""
    store = backup_store()
    source = backup_source()
    started = timezone.now().astimezone(UTC)
    name = backup_name(started)
    facts = _facts(source)
    progress = Progress("db_backup", stderr)
    with DumpReader(source, progress) as reader:
        store.put(name + DUMP, reader)  # type: ignore[arg-type]
        progress.done()
    manifest = _manifest(name, facts, reader, started)
    _put_manifest(store, manifest)
    _record(store, manifest)
    pruned = backup_prune(keep_daily=keep_daily, keep_weekly=keep_weekly) if prune else []
    return manifest, pruned


def backup_list() -> list[Listed]:
    """Return the stored backups, newest first, with the checksum from each manifest."""
    store = backup_store()
    files = {f.name: f for f in store.listing()}
    found = []
    for file_name, stored in files.items():
        name = file_name.removesuffix(DUMP)
        if not file_name.endswith(DUMP) or not NAME.match(name):
            continue
        complete = name + MANIFEST in files
        sha = json.loads(store.read(name + MANIFEST))["sha256"] if complete else None
        created = datetime.strptime(NAME.match(name).group(1), "%Y%m%dT%H%M%SZ")  # type: ignore[union-attr]
        found.append(Listed(name, stored.size, created.replace(tzinfo=UTC), sha, complete))
    return sorted(found, key=lambda b: b.created, reverse=True)


def backup_prune(*, keep_daily: int, keep_weekly: int) -> list[str]:
    """Delete the complete backups the retention policy does not keep; return their names.

    Only names this tool writes (depot-<stamp>) with a manifest are considered: an incomplete
    backup or a file someone else put under the prefix is never deleted here.
    """
    complete = {b.created: b.name for b in backup_list() if b.complete}
    keep = retention_keep(complete, daily=keep_daily, weekly=keep_weekly)
    doomed = sorted(name for created, name in complete.items() if created not in keep)
    if doomed:
        backup_store().delete([n + suffix for n in doomed for suffix in (DUMP, MANIFEST)])
    return doomed


def _resolve(store: BackupStore, name: str) -> str:
    name = name.removesuffix(DUMP).removesuffix(MANIFEST)
    if name == "latest":
        complete = [b for b in backup_list() if b.complete]
        if not complete:
            raise BackupError(f"there is no complete backup in {store.location}")
        return complete[0].name
    return name


def backup_download(*, name: str, directory: Path, stderr: Writable | None = None) -> Path:
    """Download a backup (`latest` for the newest) and its manifest; verify the checksum."""
    store = backup_store()
    name = _resolve(store, name)
    manifest = json.loads(store.read(name + MANIFEST))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (name + DUMP)
    partial = directory / f".{name}{DUMP}.part"
    sha = hashlib.sha256()
    progress = Progress("db_download", stderr)
    try:
        with partial.open("wb") as out:
            for chunk in store.chunks(name + DUMP):
                sha.update(chunk)
                out.write(chunk)
                progress.add(len(chunk))
        progress.done()
        if sha.hexdigest() != manifest["sha256"]:
            raise _damaged("the download's", sha.hexdigest(), manifest["sha256"], "it was not kept")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    (directory / (name + MANIFEST)).write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def _target_prepare(target: Server, *, force: bool) -> None:
    connection = target.connect(database=False)
    try:
        cursor = connection.cursor()
        cursor.execute(
            f"CREATE DATABASE IF NOT EXISTS `{target.database}` "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        cursor.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s",
            [target.database],
        )
        tables = cursor.fetchall()
        if tables and not force:
            raise BackupError(
                f"the database {target.database} is not empty ({len(tables)} tables): nothing "
                "was imported. Name a new or empty database, or add --force to drop its "
                "tables first."
            )
        cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
        for table, kind in tables:
            what = "VIEW" if kind == "VIEW" else "TABLE"
            cursor.execute(f"DROP {what} IF EXISTS `{target.database}`.`{table}`")
    finally:
        connection.close()


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _file_chunks(path: Path) -> Any:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


def backup_import(
    *,
    path: Path,
    target: Server,
    force: bool = False,
    scrub: bool = False,
    what: str = "the file's",
    stderr: Writable | None = None,
) -> Imported:
    """Import a dump into `target`, which must be empty (or --force: its tables are dropped).

    The checksum is checked against the manifest beside the file before anything is written.
    With `scrub`, the copy is scrubbed (apps/backups/scrub.py) right after; should that fail,
    the imported tables are dropped rather than left holding real data.
    """
    manifest = _manifest_of(path)
    if manifest is not None:
        found = _file_sha256(path)
        if found != manifest["sha256"]:
            raise _damaged(what, found, manifest["sha256"], "nothing was imported")
    _target_prepare(target, force=force)
    progress = Progress("db_import", stderr)
    import_stream(target, _file_chunks(path), progress)
    progress.done()
    scrubbed: list[str] = []
    if scrub:
        try:
            scrubbed = scrub_database(target)
        except BaseException:
            _target_prepare(target, force=True)
            raise
    return Imported(
        database=target.database,
        row_counts=_table_counts(target),
        expected=(manifest or {}).get("row_counts", {}),
        scrubbed=scrubbed,
        verified=manifest is not None,
    )


def backup_restore(
    *, name: str, target: Server, force: bool = False, scrub: bool = False,
    stderr: Writable | None = None,
) -> Imported:  # fmt: skip
    """Download a backup, verify its checksum, import it into `target` (see backup_import)."""
    with tempfile.TemporaryDirectory(prefix="depot-restore-") as scratch:
        try:
            path = backup_download(name=name, directory=Path(scratch), stderr=stderr)
        except BackupError as exc:
            raise BackupError(str(exc).replace("it was not kept", "nothing was imported")) from exc
        return backup_import(
            path=path, target=target, force=force, scrub=scrub, what="the download's", stderr=stderr
        )
