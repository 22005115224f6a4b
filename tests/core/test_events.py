from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.core.events import Event, publish, publish_durable, subscriber, unsubscribe
from apps.core.models import OutboxEvent
from apps.core.outbox import outbox_sweep
from apps.core.tasks import outbox_dispatch_task


@dataclass(frozen=True)
class WidgetShipped(Event):
    widget_id: int


@pytest.fixture
def received() -> Iterator[list[int]]:
    seen: list[int] = []

    @subscriber(WidgetShipped)
    def on_shipped(event: WidgetShipped) -> None:
        seen.append(event.widget_id)

    yield seen
    unsubscribe(WidgetShipped, on_shipped)


def test_publish_runs_subscribers_only_after_commit(transactional_db, received):
    with transaction.atomic():
        publish(WidgetShipped(widget_id=7))
        assert received == []
    assert received == [7]


def test_publish_in_a_rolled_back_transaction_runs_nothing(transactional_db, received):
    with pytest.raises(RuntimeError), transaction.atomic():
        publish(WidgetShipped(widget_id=8))
        raise RuntimeError("the change failed")
    assert received == []


def test_a_failing_subscriber_does_not_silence_the_others(transactional_db, received) -> None:
    @subscriber(WidgetShipped)
    def broken(event: WidgetShipped) -> None:
        raise ValueError("boom")

    # Registered after `received`'s subscriber and before this one: order is registration order.
    seen_after: list[int] = []

    @subscriber(WidgetShipped)
    def after(event: WidgetShipped) -> None:
        seen_after.append(event.widget_id)

    try:
        with transaction.atomic():
            publish(WidgetShipped(widget_id=9))
    finally:
        unsubscribe(WidgetShipped, broken)
        unsubscribe(WidgetShipped, after)
    assert received == [9]
    assert seen_after == [9]


def test_subscriber_decorator_registers_a_function_once(transactional_db, received):
    @subscriber(WidgetShipped)
    def twice(event: WidgetShipped) -> None:
        received.append(-event.widget_id)

    subscriber(WidgetShipped)(twice)
    try:
        publish(WidgetShipped(widget_id=3))
    finally:
        unsubscribe(WidgetShipped, twice)
    assert received == [3, -3]


def test_durable_event_is_written_with_the_change_and_delivered_after_commit(
    transactional_db, received
):
    with transaction.atomic():
        publish_durable(WidgetShipped(widget_id=11))
        row = OutboxEvent.objects.get()
        assert row.dispatched_at is None
        assert received == []

    row.refresh_from_db()
    assert row.name == WidgetShipped.event_name()
    assert row.payload == {"widget_id": 11}
    assert row.dispatched_at is not None
    assert row.attempts == 1
    assert received == [11]


def test_durable_event_of_a_rolled_back_change_leaves_no_row(transactional_db, received):
    with pytest.raises(RuntimeError), transaction.atomic():
        publish_durable(WidgetShipped(widget_id=12))
        raise RuntimeError("the change failed")
    assert not OutboxEvent.objects.exists()
    assert received == []


def test_a_delivered_row_is_not_delivered_again(transactional_db, received):
    publish_durable(WidgetShipped(widget_id=13))
    row = OutboxEvent.objects.get()

    outbox_dispatch_task.delay(outbox_id=row.pk)

    assert received == [13]
    row.refresh_from_db()
    assert row.attempts == 1


def test_a_failing_delivery_is_counted_and_left_for_retry(db):
    @subscriber(WidgetShipped)
    def broken(event: WidgetShipped) -> None:
        raise ValueError("mail server said no")

    row = OutboxEvent.objects.create(name=WidgetShipped.event_name(), payload={"widget_id": 1})
    try:
        with pytest.raises(ValueError):
            outbox_dispatch_task.apply(kwargs={"outbox_id": row.pk}, throw=True, retries=8)
    finally:
        unsubscribe(WidgetShipped, broken)

    row.refresh_from_db()
    assert row.dispatched_at is None
    assert row.attempts == 1
    assert "mail server said no" in row.last_error


def test_sweeper_resends_rows_left_undelivered(db, received):
    # Given rows whose hand-off to the broker never happened (broker down, process killed)
    stale = OutboxEvent.objects.create(name=WidgetShipped.event_name(), payload={"widget_id": 21})
    fresh = OutboxEvent.objects.create(name=WidgetShipped.event_name(), payload={"widget_id": 22})
    OutboxEvent.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    # When the sweeper runs
    sent = outbox_sweep(older_than=timedelta(seconds=30))

    # Then only the stale one is re-sent (the fresh one may still be on its way)
    assert sent == 1
    assert received == [21]
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.dispatched_at is not None
    assert fresh.dispatched_at is None


def test_unknown_event_names_are_refused():
    with pytest.raises(LookupError):
        Event.from_payload("nowhere.NothingHappened", {})


def test_a_durable_event_nobody_listens_to_writes_no_outbox_row(transactional_db):
    # Given no subscriber of WidgetShipped (the `received` fixture is not used here)
    # When it is published durably
    publish_durable(WidgetShipped(widget_id=13))

    # Then no row waits in the outbox for a delivery to nobody
    assert not OutboxEvent.objects.exists()


def test_issuing_a_license_by_hand_leaves_no_outbox_row_for_an_event_without_listeners(
    transactional_db,
):
    # Given a product, and no subscriber of LicenseIssued (the webhooks' is taken away here)
    from io import StringIO

    from django.core.management import call_command

    from apps.core.events import subscribers_of
    from apps.licenses.events import LicenseIssued
    from apps.licenses.services import product_upsert

    listeners = subscribers_of(LicenseIssued)
    for func in listeners:
        unsubscribe(LicenseIssued, func)
    product_upsert(slug="formwell", name="Formwell")

    # When support issues a key
    try:
        call_command(
            "issue_license",
            "--product",
            "formwell",
            "--sites",
            "1",
            "--days",
            "365",
            "--email",
            "ada@example.com",
            stdout=StringIO(),
        )
    finally:
        for func in listeners:
            subscriber(LicenseIssued)(func)

    # Then nothing is queued for it
    assert not OutboxEvent.objects.filter(name=LicenseIssued.event_name()).exists()
