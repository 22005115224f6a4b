"""A private S3 endpoint (moto in server mode) that a test may stop: never the run's shared one.

    def test_something(private_s3):
        ...                      # default_storage is a bucket on this test's own moto
        private_s3.stop()        # the endpoint is gone: connections are refused
        private_s3.pause()       # or hung: connections accepted, never answered

Use it with `pytest_plugins = ["tests.services_s3"]` or `from tests.services_s3 import
private_s3`. The process is killed at teardown even when the test fails.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test.utils import override_settings

from tests.helpers import free_port, process_stop, wait_for_port

ACCESS_KEY = "depot-private-s3"
SECRET_KEY = "depot-private-s3-secret"  # moto accepts any credentials
REGION = "us-east-1"


@dataclass
class PrivateS3:
    """One moto server on a free port with one bucket; `stop()` takes it away mid-test."""

    port: int
    bucket: str
    logfile: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server (again, after stop(): on the same port, with an empty bucket)."""
        with self.logfile.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(self.port, self.process, "moto")
        except RuntimeError as error:
            self.stop()
            raise RuntimeError(f"{error}: {self.log()}") from None
        self.client().create_bucket(Bucket=self.bucket)

    def stop(self) -> None:
        """Kill the server (SIGKILL, as a crashed host would go) and wait until it is gone."""
        process_stop(self.process, kill=True)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections are accepted and never answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def storage_entry(self) -> dict[str, Any]:
        """The STORAGES["default"] entry the application would use for this endpoint."""
        from config.settings.base import s3_storage

        entry = s3_storage(bucket=self.bucket, endpoint_url=self.endpoint, region=REGION)
        entry["OPTIONS"].update(access_key=ACCESS_KEY, secret_key=SECRET_KEY)
        return entry

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")[-2000:]


@pytest.fixture
def private_s3(tmp_path: Path) -> Iterator[PrivateS3]:
    """A moto server of this test's own, with default_storage pointed at its bucket."""
    s3 = PrivateS3(
        port=free_port(),
        bucket=f"depot-private-{uuid.uuid4().hex[:8]}",
        logfile=tmp_path / "moto.log",
    )
    try:
        s3.start()
        with override_settings(STORAGES={**settings.STORAGES, "default": s3.storage_entry()}):
            yield s3
    finally:
        s3.stop()
