"""Prove each real part is really used: MariaDB, Redis, the S3 endpoint, RabbitMQ and a worker."""

import threading
import uuid

import boto3
import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, connections, transaction

from apps.core.models import OutboxEvent
from apps.core.tasks import outbox_dispatch_task
from apps.licenses.services import product_upsert
from apps.updates.events import ReleasePublished
from tests.helpers import wait_until

pytestmark = pytest.mark.real_services


def test_models_are_saved_and_read_back_on_mariadb(db):
    product_upsert(slug="roundtrip", name="Round Trip ✓ 🚀", description="utf8mb4 survives")

    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM licenses_product WHERE slug = %s", ["roundtrip"])
        (name,) = cursor.fetchone()

    assert connection.vendor == "mysql"
    assert connection.mysql_is_mariadb
    assert name == "Round Trip ✓ 🚀"


def test_select_for_update_blocks_a_second_connection(transactional_db):
    product = product_upsert(slug="locked", name="Locked")
    locked = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        try:
            with transaction.atomic():
                type(product).objects.select_for_update().get(pk=product.pk)
                locked.set()
                release.wait(timeout=10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        # Another connection (this thread's) cannot take the same row lock while it is held.
        with pytest.raises(DatabaseError), transaction.atomic():
            type(product).objects.select_for_update(nowait=True).get(pk=product.pk)
    finally:
        release.set()
        holder.join()

    with transaction.atomic():
        assert type(product).objects.select_for_update(nowait=True).get(pk=product.pk)


def test_a_cached_value_is_visible_to_a_second_redis_client():
    key = f"probe-{uuid.uuid4().hex}"
    other = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])

    cache.set(key, 424242, timeout=60)
    # django-redis stores integers unpickled, so a plain client reads the same bytes.
    assert other.get(cache.make_key(key)) == b"424242"

    other.set(cache.make_key(key), 7)
    assert cache.get(key) == 7


def test_a_stored_file_is_read_back_through_boto3_from_the_s3_endpoint(s3_endpoint):
    name = default_storage.save(f"probes/{uuid.uuid4().hex}.txt", ContentFile(b"plugin bytes"))

    s3 = boto3.client("s3", endpoint_url=s3_endpoint["endpoint"], region_name="us-east-1")
    body = s3.get_object(Bucket=s3_endpoint["bucket"], Key=name)["Body"].read()

    assert type(default_storage._wrapped).__name__ == "S3Storage"
    assert body == b"plugin bytes"


def test_a_task_enqueued_on_rabbitmq_is_run_by_the_worker_process(celery_worker):
    # Given an event written to the outbox (committed, so the worker can see it)
    row = OutboxEvent.objects.create(name=ReleasePublished.event_name(), payload={"release_id": 1})

    # When its delivery task goes to the broker
    result = outbox_dispatch_task.delay(outbox_id=row.pk)

    # Then the worker process runs it and its effect lands in the database
    row = wait_until(
        lambda: OutboxEvent.objects.filter(pk=row.pk, dispatched_at__isnull=False).first()
    )
    assert row.attempts == 1
    # ... in the worker process: its log records the task's success.
    assert wait_until(lambda: f"[{result.id}] succeeded" in celery_worker.log())
