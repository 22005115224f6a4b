"""What a stranger may learn from /metrics and /readyz/detail, on the web and the updates role."""

import json

import pytest

from config.settings.base import redis_cache
from tests.core.test_roles import _run

ROLES = [
    pytest.param("config.urls", id="web"),
    pytest.param("config.urls_updates", id="updates"),
]
TOKEN = "scraper-token-0123456789abcdef"


@pytest.fixture
def role(request, settings):
    settings.ROOT_URLCONF = request.param
    return request.param


@pytest.mark.parametrize("role", ROLES, indirect=True)
def test_metrics_refuse_a_request_without_the_bearer_token(role, client, settings):
    # Given a scraper token
    settings.DEPOT_METRICS_TOKEN = TOKEN

    # When a stranger asks without it, with a wrong one, or with another scheme
    answers = [
        client.get("/metrics"),
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token"),
        client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}"),
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer"),
    ]

    # Then each is refused with a JSON reason and no figure
    for response in answers:
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["code"] == "unauthorized"
        assert b"django_http_requests" not in response.content


@pytest.mark.parametrize("role", ROLES, indirect=True)
def test_metrics_answer_the_scraper_with_the_token(role, client, settings):
    settings.DEPOT_METRICS_TOKEN = TOKEN
    client.get("/healthz")

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert "django_http_requests_total_by_view_transport_method_total" in response.text
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize("role", ROLES, indirect=True)
def test_metrics_are_absent_where_a_token_is_required_but_none_is_set(role, client, settings):
    # Given production's rule (a token is required) and no token configured
    settings.DEPOT_METRICS_TOKEN = ""
    settings.DEPOT_METRICS_REQUIRE_TOKEN = True

    # When anyone asks, with or without a header
    plain = client.get("/metrics")
    with_header = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")

    # Then there are no metrics to see
    for response in (plain, with_header):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert b"django_http_requests" not in response.content


@pytest.mark.parametrize(
    "settings_module,host",
    [
        ("config.settings.production", "shop.example.com"),
        ("config.settings.updates", "updates.example.com"),
    ],
)
def test_production_settings_serve_metrics_only_with_the_configured_token(settings_module, host):
    # Given each role's real production settings, with and without DEPOT_METRICS_TOKEN
    code = f"""
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="{host}")
print(json.dumps([
    client.get("/metrics").status_code,
    client.get("/metrics", HTTP_AUTHORIZATION="Bearer {TOKEN}").status_code,
]))
"""
    # When the metrics are asked for over plain HTTP (as a scraper inside the cluster does)
    unset = _run(settings_module, code)
    configured = _run(settings_module, code, {"DEPOT_METRICS_TOKEN": TOKEN})

    # Then without a token there are none; with one, only its bearer gets them
    assert unset.returncode == 0, unset.stderr
    assert configured.returncode == 0, configured.stderr
    assert json.loads(unset.stdout.strip().splitlines()[-1]) == [404, 404]
    assert json.loads(configured.stdout.strip().splitlines()[-1]) == [401, 200]


@pytest.mark.parametrize("role", ROLES, indirect=True)
def test_readyz_detail_names_what_is_down_without_the_exception_text(role, db, client, settings):
    # Given Redis unreachable at an address an attacker would like to learn
    settings.CACHES = {"default": redis_cache("redis://127.0.0.1:1/0")}

    # When anyone asks what is up
    response = client.get("/readyz/detail")

    # Then the answer names the component and says down, nothing more
    body = response.json()
    assert body["down"] == ["cache"]
    assert body["checks"]["cache"] == {"ok": False, "required": False}
    assert all(set(check) == {"ok", "required"} for check in body["checks"].values())
    assert "127.0.0.1" not in response.text
    assert "Error" not in response.text
