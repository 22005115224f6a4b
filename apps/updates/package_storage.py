"""Release packages on the storage backend: stored and verified, checked before each download.

Storage may be S3 (django-storages) or the local filesystem. Either can be unreachable for a
while or lose an object; callers get a DomainError with a sentence instead of a backend error:
StorageUnavailable (503, try again) or PackageMissing (404).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any
from weakref import WeakKeyDictionary

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, default_storage, storages
from django.db.models.fields.files import FieldFile
from storages.utils import clean_name

from apps.core.errors import DomainError

logger = logging.getLogger(__name__)

# What a storage call raises when the backend cannot answer: S3 unreachable or timing out
# (BotoCoreError), S3 answering an error (ClientError), a filesystem or mount failing (OSError).
STORAGE_ERRORS = (BotoCoreError, ClientError, OSError)
RETRY_AFTER_SECONDS = 30
# When each storage last failed to answer, per process and per storage instance (a settings
# change makes a new instance, with no history).
_failed_at: WeakKeyDictionary[Storage, float] = WeakKeyDictionary()
_CHUNK = 1024 * 1024
# The download probe's boto3 clients (not thread-safe to build: one set per thread).
_probe_clients = threading.local()


class StorageUnavailable(DomainError):
    """The storage backend did not answer; the same request may work in a few minutes."""

    code = "storage_unavailable"
    status = 503


class PackageNotStored(StorageUnavailable):
    """The storage accepted a package but does not hold it intact."""

    code = "package_not_stored"


class PackageMissing(DomainError):
    """The release's package is gone from storage."""

    code = "package_missing"
    status = 404


def package_store(*, file: FieldFile, filename: str, content: bytes, label: str) -> None:
    """Store `content` as `file`, then read it back; raise unless storage holds it intact.

    On failure the stored copy is removed and StorageUnavailable (or PackageNotStored)
    raised, so a caller publishes a release only after this returns.
    """
    try:
        file.save(filename, ContentFile(content), save=False)
    except STORAGE_ERRORS as exc:
        logger.warning("storing %s failed", label, exc_info=True)
        raise StorageUnavailable(
            f"The package store could not be reached, so {label} was not published. "
            "Nothing was saved; try again in a few minutes."
        ) from exc
    name = file.name or ""
    try:
        size, sha384 = _stored_size_and_digest(name)
    except STORAGE_ERRORS as exc:
        logger.warning("verifying %s (%s) failed", label, name, exc_info=True)
        package_discard(name)
        raise StorageUnavailable(
            f"The package store stopped answering while {label} was checked, so it was not "
            "published. Nothing was saved; try again in a few minutes."
        ) from exc
    if size != len(content) or sha384 != hashlib.sha384(content).hexdigest():
        logger.error(
            "stored copy of %s (%s) differs: %s of %s bytes", label, name, size, len(content)
        )
        package_discard(name)
        raise PackageNotStored(
            f"The stored copy of {label} did not match the upload ({size} of {len(content)} "
            "bytes), so it was not published. Upload it again; if this keeps happening, check "
            "the storage backend."
        )


def _stored_size_and_digest(name: str) -> tuple[int, str]:
    size = default_storage.size(name)
    digest = hashlib.sha384()
    with default_storage.open(name, "rb") as stored:
        for chunk in iter(lambda: stored.read(_CHUNK), b""):
            digest.update(chunk)
    return size, digest.hexdigest()


def package_discard(name: str) -> None:
    """Delete a stored package that will not be published; a failure is logged, not raised."""
    try:
        default_storage.delete(name)
    except STORAGE_ERRORS:
        logger.error("could not remove the unpublished package %s", name, exc_info=True)


def package_check(*, name: str, label: str) -> None:
    """Raise PackageMissing or StorageUnavailable unless storage holds `name` now."""
    storage = _breaker_check(label)
    try:
        present = _probe(storage, name)
    except STORAGE_ERRORS as exc:
        _breaker_trip(storage, label, name)
        raise _unavailable(label) from exc
    if not present:
        # The release is still offered, so an operator must re-upload or unpublish it.
        logger.error("package of %s missing from storage: %s", label, name)
        raise _missing(label)


def _probe(storage: Storage, name: str) -> bool:
    """Whether `storage` holds `name`, asked once with DEPOT_STORAGE_PROBE_TIMEOUT on S3.

    The download view asks while a worker thread waits (granian's updates role has one
    blocking thread per worker, and the update checks queue behind it), so a hung S3 may cost
    it one short attempt, not the storage client's two full ones.
    """
    if not hasattr(storage, "bucket_name"):
        return storage.exists(name)
    try:
        _probe_client(storage).head_object(
            Bucket=storage.bucket_name,
            Key=storage._normalize_name(clean_name(name)),  # type: ignore[attr-defined]
        )
    except ClientError as err:
        if err.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise
    return True


def _probe_client(storage: Storage) -> Any:
    """A client of `storage`'s own session and endpoint with one short attempt, per thread."""
    timeout = float(settings.DEPOT_STORAGE_PROBE_TIMEOUT)
    clients: dict[tuple[Any, ...], Any] = _probe_clients.__dict__.setdefault("clients", {})
    # By what the client connects with, not id(storage): a new storage (a settings change)
    # may reuse an old one's id.
    key = (
        storage.endpoint_url,  # type: ignore[attr-defined]
        storage.region_name,  # type: ignore[attr-defined]
        storage.access_key,  # type: ignore[attr-defined]
        timeout,
    )
    if key not in clients:
        config = storage.client_config.merge(  # type: ignore[attr-defined]
            Config(
                connect_timeout=timeout,
                read_timeout=timeout,
                retries={"total_max_attempts": 1, "mode": "standard"},
            )
        )
        clients[key] = storage._create_session().client(  # type: ignore[attr-defined]
            "s3",
            region_name=storage.region_name,  # type: ignore[attr-defined]
            use_ssl=storage.use_ssl,  # type: ignore[attr-defined]
            endpoint_url=storage.endpoint_url,  # type: ignore[attr-defined]
            config=config,
            verify=storage.verify,  # type: ignore[attr-defined]
        )
    return clients[key]


def package_open(*, name: str, label: str) -> File:
    """Open a stored package for streaming, or raise PackageMissing or StorageUnavailable."""
    storage = _breaker_check(label)
    try:
        return storage.open(name, "rb")
    except FileNotFoundError as exc:
        logger.error("package of %s missing from storage: %s", label, name)
        raise _missing(label) from exc
    except STORAGE_ERRORS as exc:
        _breaker_trip(storage, label, name)
        raise _unavailable(label) from exc


def _breaker_check(label: str) -> Storage:
    """Return the default storage, or raise StorageUnavailable while its breaker is open.

    A hung S3 costs a download the botocore timeouts (seconds); after one failure this
    process answers 503 at once for DEPOT_STORAGE_BREAKER_SECONDS instead of waiting again.
    """
    storage = storages["default"]
    failed_at = _failed_at.get(storage)
    if failed_at is not None and time.monotonic() < failed_at + _breaker_seconds():
        raise _unavailable(label)
    return storage


def _breaker_trip(storage: Storage, label: str, name: str) -> None:
    logger.warning("storage unavailable for %s (%s)", label, name, exc_info=True)
    _failed_at[storage] = time.monotonic()


def _breaker_seconds() -> float:
    return float(settings.DEPOT_STORAGE_BREAKER_SECONDS)


def _unavailable(label: str) -> StorageUnavailable:
    return StorageUnavailable(
        f"The package for {label} is not available right now; try again in a few minutes."
    )


def _missing(label: str) -> PackageMissing:
    return PackageMissing(
        f"The package for {label} is no longer available; check for updates again later, "
        "and tell the vendor if this keeps happening."
    )
