from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.core.models import OutboxEvent
from config.settings.base import redis_cache, s3_storage

TOKEN = "scraper-token-outbox-gauges"


def test_healthz_answers_without_touching_services(client):
    # No `db` fixture: any database access here would raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_asks_only_for_what_the_web_role_needs_when_all_is_up(db, client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": {"ok": True}}}


def test_readyz_detail_reports_every_component_by_name_when_all_are_up(db, client):
    response = client.get("/readyz/detail")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "storage", "broker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["database"]["required"] is True
    assert body["checks"]["cache"]["required"] is False
    assert body["require"] == [["database"]]
    assert "down" not in body


def test_readyz_stays_ready_and_the_detail_names_the_cache_when_redis_is_unreachable(
    db, client, settings, caplog
):
    settings.CACHES = {"default": redis_cache("redis://127.0.0.1:1/0")}

    ready = client.get("/readyz")
    response = client.get("/readyz/detail")

    assert ready.status_code == 200
    assert response.status_code == 200
    body = response.json()
    assert body["down"] == ["cache"]
    assert body["checks"]["cache"] == {"ok": False, "required": False}
    assert body["checks"]["database"] == {"ok": True, "required": True}
    # The exception's text (host, port) is for the operator's log, not for whoever asks.
    assert "Connection" not in response.content.decode()
    assert "127.0.0.1" not in response.content.decode()
    assert any(
        "cache is down" in r.getMessage() and "Connection" in r.getMessage() for r in caplog.records
    )


def test_readyz_stays_ready_and_the_detail_names_the_storage_when_s3_is_unreachable(
    db, client, settings
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(
            bucket="depot-nowhere", endpoint_url="http://127.0.0.1:1", region="us-east-1"
        ),
    }

    ready = client.get("/readyz")
    response = client.get("/readyz/detail")

    assert ready.status_code == 200
    assert response.status_code == 200
    body = response.json()
    assert body["down"] == ["storage"]
    assert body["checks"]["storage"] == {"ok": False, "required": False}
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.real_services
def test_readyz_stays_ready_and_the_detail_names_the_broker_when_rabbitmq_is_unreachable(
    db, client
):
    from config.celery_app import app

    saved = (app.conf.broker_url, app.conf.task_always_eager)
    app.conf.broker_url, app.conf.task_always_eager = "amqp://guest:guest@127.0.0.1:1//", False
    try:
        ready = client.get("/readyz")
        response = client.get("/readyz/detail")
    finally:
        app.conf.broker_url, app.conf.task_always_eager = saved

    assert ready.status_code == 200
    assert response.status_code == 200
    assert response.json()["down"] == ["broker"]


def test_readyz_answers_only_safe_methods(client):
    assert client.post("/readyz").status_code == 405
    assert client.post("/readyz/detail").status_code == 405


def test_metrics_are_exported_for_prometheus(db, client):
    client.get("/healthz")

    response = client.get("/metrics")

    assert response.status_code == 200
    text = response.content.decode()
    assert "django_http_requests_total_by_view_transport_method_total" in text
    assert 'view="healthz"' in text


def _gauges(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("depot_outbox_")
    }


def test_metrics_report_the_outbox_backlog_and_the_age_of_its_oldest_undelivered_event(
    db, client, settings, django_assert_num_queries
):
    # Given two undelivered events, the older queued ten minutes ago, and an older delivered one
    settings.DEPOT_METRICS_TOKEN = TOKEN
    now = timezone.now()
    older = OutboxEvent.objects.create(name="LicenseIssued", payload={"license_id": 1})
    OutboxEvent.objects.create(name="LicenseIssued", payload={"license_id": 2})
    delivered = OutboxEvent.objects.create(name="OrderPaid", payload={}, dispatched_at=now)
    OutboxEvent.objects.filter(pk=older.pk).update(created_at=now - timedelta(minutes=10))
    OutboxEvent.objects.filter(pk=delivered.pk).update(created_at=now - timedelta(hours=2))

    # When the scraper asks again (the business figures are cached from the first scrape for
    # DEPOT_METRICS_CACHE_SECONDS), one query computes both gauges
    client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    with django_assert_num_queries(1):
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    # Then the backlog counts the undelivered events and the age is the older one's
    assert response.status_code == 200
    gauges = _gauges(response.text)
    assert gauges["depot_outbox_undelivered"] == 2
    assert 600 <= gauges["depot_outbox_oldest_undelivered_age_seconds"] < 7200


def test_metrics_report_an_empty_outbox_as_zero(db, client, settings):
    settings.DEPOT_METRICS_TOKEN = TOKEN
    OutboxEvent.objects.create(name="OrderPaid", payload={}, dispatched_at=timezone.now())

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert _gauges(response.text) == {
        "depot_outbox_undelivered": 0,
        "depot_outbox_oldest_undelivered_age_seconds": 0,
    }


def test_the_outbox_gauges_are_for_the_scraper_only(db, client, settings):
    settings.DEPOT_METRICS_TOKEN = TOKEN
    OutboxEvent.objects.create(name="LicenseIssued", payload={})

    response = client.get("/metrics")

    assert response.status_code == 401
    assert "depot_outbox" not in response.text
