"""What the db_* commands share: BackupError becomes a plain CommandError (no traceback)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import CommandError

from apps.backups.errors import BackupError


@contextmanager
def plainly() -> Iterator[None]:
    """Turn a BackupError into the one-line message `manage.py` prints, exit status 1."""
    try:
        yield
    except BackupError as exc:
        raise CommandError(str(exc)) from exc


def sizes(count: int) -> str:
    """Return a byte count in the unit an operator reads at a glance."""
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000  # type: ignore[assignment]
    return f"{count} B"


def counts_line(found: dict[str, int], expected: dict[str, int]) -> str:
    """Row counts of the restored copy beside the manifest's, `orders 12` or `orders 11 (12)`."""
    parts = []
    for label, value in found.items():
        want = expected.get(label)
        parts.append(f"{label} {value}" + ("" if want in (None, value) else f" (manifest: {want})"))
    return ", ".join(parts)
