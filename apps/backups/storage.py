"""Where backups are kept: an S3 bucket under a prefix, or a local directory.

Both stream: an upload reads the source in parts (S3 multipart, 8 MiB parts, two in flight),
a download yields 1 MiB chunks, so neither holds a dump in memory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from django.conf import settings

from apps.backups.errors import BackupError

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    name: str
    size: int
    modified: datetime


class BackupStore(Protocol):
    location: str

    def put(self, name: str, source: IO[bytes]) -> None: ...
    def chunks(self, name: str) -> Iterator[bytes]: ...
    def read(self, name: str) -> bytes: ...
    def listing(self) -> list[StoredFile]: ...
    def delete(self, names: list[str]) -> None: ...


class S3Store:
    """Backups in a bucket under a prefix (DEPOT_BACKUP_BUCKET, DEPOT_BACKUP_PREFIX)."""

    def __init__(self, *, bucket: str, prefix: str, client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.client = client
        self.location = f"s3://{bucket}/{prefix}"

    def put(self, name: str, source: IO[bytes]) -> None:
        from boto3.s3.transfer import TransferConfig

        # Parts of 8 MiB, two uploading while the next is read: about 32 MiB of buffers
        # whatever the dump's size (S3 allows 10,000 parts: up to ~80 GB a dump).
        config = TransferConfig(
            multipart_threshold=8 * CHUNK,
            multipart_chunksize=8 * CHUNK,
            max_concurrency=2,
            max_io_queue=2,
        )
        self.client.upload_fileobj(source, self.bucket, self.prefix + name, Config=config)

    def chunks(self, name: str) -> Iterator[bytes]:
        body = self._get(name)["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def read(self, name: str) -> bytes:
        body = self._get(name)["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    def _get(self, name: str) -> Any:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise BackupError(f"there is no {name} in {self.location}") from exc
            raise

    def listing(self) -> list[StoredFile]:
        found = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix) :]
                if name and "/" not in name:
                    found.append(StoredFile(name, item["Size"], item["LastModified"]))
        return found

    def delete(self, names: list[str]) -> None:
        for start in range(0, len(names), 1000):
            batch = [{"Key": self.prefix + n} for n in names[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})


class DirectoryStore:
    """Backups in a local directory (DEPOT_BACKUP_DIR): a one-host install, or a mounted volume."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.location = str(directory)

    def put(self, name: str, source: IO[bytes]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f".{name}.part"
        with partial.open("wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
        os.replace(partial, self.directory / name)

    def chunks(self, name: str) -> Iterator[bytes]:
        path = self._path(name)
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk

    def read(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def _path(self, name: str) -> Path:
        path = self.directory / name
        if not path.is_file():
            raise BackupError(f"there is no {name} in {self.location}")
        return path

    def listing(self) -> list[StoredFile]:
        if not self.directory.is_dir():
            return []
        return [
            StoredFile(p.name, p.stat().st_size, datetime.fromtimestamp(p.stat().st_mtime, UTC))
            for p in self.directory.iterdir()
            if p.is_file() and not p.name.startswith(".")
        ]

    def delete(self, names: list[str]) -> None:
        for name in names:
            (self.directory / name).unlink(missing_ok=True)


def backup_store() -> BackupStore:
    """Return the configured store: DEPOT_BACKUP_DIR if set, else the bucket."""
    if settings.DEPOT_BACKUP_DIR:
        return DirectoryStore(Path(settings.DEPOT_BACKUP_DIR))
    if not settings.DEPOT_BACKUP_BUCKET:
        raise BackupError(
            "no place for backups: set DEPOT_BACKUP_BUCKET (or AWS_STORAGE_BUCKET_NAME) "
            "or DEPOT_BACKUP_DIR"
        )
    import boto3
    from botocore.config import Config

    # A batch job, not a request: patient timeouts and retries (the web role's S3 client
    # gives up within seconds, which would fail a night's backup on one slow part).
    client = boto3.client(
        "s3",
        endpoint_url=settings.DEPOT_BACKUP_S3_ENDPOINT_URL or None,
        region_name=settings.DEPOT_BACKUP_S3_REGION or None,
        config=Config(
            connect_timeout=10,
            read_timeout=120,
            retries={"total_max_attempts": 5, "mode": "standard"},
            signature_version="s3v4",
            s3={"addressing_style": settings.DEPOT_BACKUP_S3_ADDRESSING_STYLE},
        ),
    )
    return S3Store(
        bucket=settings.DEPOT_BACKUP_BUCKET, prefix=settings.DEPOT_BACKUP_PREFIX, client=client
    )
