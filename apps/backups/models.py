"""The record of each backup that reached storage, which the backup-age gauge reads."""

from __future__ import annotations

from django.db import models


class BackupRecord(models.Model):
    """One complete backup (dump and manifest) written to storage by db_backup or db_upload.

    The gauge reads this table rather than listing the bucket at scrape time: the web role then
    needs no read access to the backups (a leaked web credential should not reach every
    customer's data), and a scrape costs one indexed query, not an S3 LIST per worker.
    """

    name = models.CharField(max_length=100)
    location = models.CharField(
        max_length=500, help_text="Where it was stored (s3://… or a directory)."
    )
    size = models.PositiveBigIntegerField(help_text="Bytes of the compressed dump.")
    sha256 = models.CharField(max_length=64)
    finished_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-finished_at"]

    def __str__(self) -> str:
        return self.name
