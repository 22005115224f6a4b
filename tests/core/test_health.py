import pytest

from config.settings.base import redis_cache, s3_storage


def test_healthz_answers_without_touching_services(client):
    # No `db` fixture: any database access here would raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_every_component_by_name_when_all_are_up(db, client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "storage", "broker"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_names_the_cache_when_redis_is_unreachable(db, client, settings, caplog):
    settings.CACHES = {"default": redis_cache("redis://127.0.0.1:1/0")}

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["cache"]
    assert body["checks"]["cache"] == {"ok": False}
    assert body["checks"]["database"] == {"ok": True}
    # The exception's text (host, port) is for the operator's log, not for whoever asks.
    assert "Connection" not in response.content.decode()
    assert "127.0.0.1" not in response.content.decode()
    assert any(
        "cache is down" in r.getMessage() and "Connection" in r.getMessage() for r in caplog.records
    )


def test_readyz_names_the_storage_when_s3_is_unreachable(db, client, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(
            bucket="depot-nowhere", endpoint_url="http://127.0.0.1:1", region="us-east-1"
        ),
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["storage"]
    assert body["checks"]["storage"] == {"ok": False}
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.real_services
def test_readyz_names_the_broker_when_rabbitmq_is_unreachable(db, client):
    from config.celery_app import app

    saved = (app.conf.broker_url, app.conf.task_always_eager)
    app.conf.broker_url, app.conf.task_always_eager = "amqp://guest:guest@127.0.0.1:1//", False
    try:
        response = client.get("/readyz")
    finally:
        app.conf.broker_url, app.conf.task_always_eager = saved

    assert response.status_code == 503
    assert response.json()["down"] == ["broker"]


def test_readyz_answers_only_safe_methods(client):
    assert client.post("/readyz").status_code == 405


def test_metrics_are_exported_for_prometheus(db, client):
    client.get("/healthz")

    response = client.get("/metrics")

    assert response.status_code == 200
    text = response.content.decode()
    assert "django_http_requests_total_by_view_transport_method_total" in text
    assert 'view="healthz"' in text
