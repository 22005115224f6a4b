"""The one error of the backup commands: a sentence an operator can act on."""

from __future__ import annotations


class BackupError(Exception):
    """A backup, upload, download or import that failed; the message says what and why."""
