"""The hot path: warm checks make no SQL query and no Redis round trip; changes show at once."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from django.db import connection

from apps.licenses.services import license_revoke
from apps.updates.delivery import hotcache
from tests.builders import SITE, WP_UA

pytestmark = pytest.mark.django_db

REDIS_DOWN = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


def _puc(client, key, ua=WP_UA):
    return client.get(
        "/updates/puc/formwell/",
        {"license_key": key, "installed_version": "2.4.0", "php": "8.2", "locale": "en_US"},
        HTTP_USER_AGENT=ua,
    )


@contextmanager
def redis_commands():
    """Record what redis-py sends over the socket (each command or pipeline, as bytes)."""
    from redis.connection import AbstractConnection

    sent: list[bytes] = []
    original = AbstractConnection.send_packed_command

    def spy(self, command, check_health=True):
        sent.append(b"".join(command) if isinstance(command, list) else command)
        return original(self, command, check_health)

    AbstractConnection.send_packed_command = spy
    try:
        yield sent
    finally:
        AbstractConnection.send_packed_command = original


# One send per command or pipeline: what redis_commands() records is the round trips too.
redis_round_trips = redis_commands


def test_a_warm_licensed_check_makes_no_sql_query(
    client, release, issued, django_assert_num_queries
):
    _puc(client, issued.key)  # warms metadata and license state

    with django_assert_num_queries(0):
        doc = _puc(client, issued.key).json()

    assert doc["download_url"].endswith("/formwell-2.4.1.zip")


@pytest.mark.real_services
def test_a_warm_licensed_check_makes_no_redis_round_trip(
    client, release, issued, django_assert_num_queries
):
    _puc(client, issued.key)  # activates the site: the state changes, its copy is dropped
    _puc(client, issued.key)  # reads the new state from Redis into this process's copy

    with redis_round_trips() as sent, django_assert_num_queries(0):
        doc = _puc(client, issued.key).json()

    assert "download_url" in doc
    assert len(sent) == 0


@pytest.mark.real_services
def test_a_warm_edd_check_license_makes_no_redis_round_trip(
    client, release, issued, django_assert_num_queries
):
    def check_license():
        return client.post(
            "/updates/edd/",
            {"edd_action": "check_license", "license": issued.key, "item_name": "Formwell"},
            HTTP_USER_AGENT=WP_UA,
        ).json()

    check_license()  # reads the license and product into this process's copy
    check_license()

    # Its rate-limit hit is counted in process too, sent with the next once-a-second flush.
    with redis_round_trips() as sent, django_assert_num_queries(0):
        answer = check_license()

    assert answer["license"] in {"valid", "site_inactive"}
    assert len(sent) == 0


@pytest.mark.real_services
def test_with_the_push_channel_lost_a_warm_check_is_one_round_trip_again(
    client, release, issued, django_assert_num_queries
):
    _puc(client, issued.key)
    _puc(client, issued.key)
    from django_redis import get_redis_connection

    # Redis drops the process's subscription (as a restart or a network cut would)
    get_redis_connection("default").execute_command("CLIENT", "KILL", "TYPE", "pubsub")

    with redis_commands() as sent, django_assert_num_queries(0):
        doc = _puc(client, issued.key).json()

    # The loss is noticed before the copy is trusted: this check asked Redis itself.
    assert "download_url" in doc
    assert sum(b"MGET" in command for command in sent) == 1


@pytest.mark.real_services
def test_a_warm_native_batch_of_ten_plugins_is_one_round_trip(
    client, product, publish, issued, django_assert_num_queries
):
    from apps.licenses.services import product_upsert
    from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
    from apps.updates.services import release_publish

    publish("2.4.1")
    plugins = {"formwell/formwell.php": {"Version": "2.4.0"}}
    for n in range(9):
        slug = f"extra-{n}"
        extra = product_upsert(slug=slug, name=f"Extra {n}")
        spec = PluginSpec(slug=slug, name=f"Extra {n}", version="1.1", description="x")
        release_publish(product=extra, version="1.1", zip_content=plugin_zip_build(spec))
        plugins[f"{slug}/{slug}.php"] = {"Version": "1.0"}
    body = json.dumps(
        {"plugins": plugins, "licenses": {"formwell/formwell.php": issued.key}, "site_url": SITE}
    )

    def check():
        return client.post(
            "/updates/v1/check", body, content_type="application/json", HTTP_USER_AGENT=WP_UA
        ).json()

    check()
    check()
    with redis_round_trips() as sent, django_assert_num_queries(0):
        answer = check()

    assert len(answer["plugins"]) == 10
    assert len(sent) == 0


def test_an_unknown_key_is_cached_negatively(client, release, django_assert_num_queries):
    unknown = "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE-FFFFF"
    _puc(client, unknown)

    with django_assert_num_queries(0):
        doc = _puc(client, unknown).json()

    assert doc["upgrade_notice"] == "This license key is not valid. Check it in your account."


def test_publishing_a_release_is_offered_by_the_next_check(
    client, publish, issued, django_capture_on_commit_callbacks
):
    publish("2.4.1")
    assert _puc(client, issued.key).json()["version"] == "2.4.1"

    with django_capture_on_commit_callbacks(execute=True):
        publish("2.5.0")

    doc = _puc(client, issued.key).json()
    assert doc["version"] == "2.5.0"
    assert doc["download_url"].endswith("/formwell-2.5.0.zip")


def test_revoking_a_license_withholds_the_package_at_the_next_check(
    client, release, issued, django_capture_on_commit_callbacks
):
    assert "download_url" in _puc(client, issued.key).json()

    with django_capture_on_commit_callbacks(execute=True):
        license_revoke(license_id=issued.license.pk)

    doc = _puc(client, issued.key).json()
    assert "download_url" not in doc
    assert doc["upgrade_notice"] == "This license was revoked."


def test_deactivating_through_the_api_is_seen_by_the_next_check(
    client, release, issued, django_capture_on_commit_callbacks
):
    assert "download_url" in _puc(client, issued.key).json()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/updates/v1/licenses/deactivate",
            json.dumps({"license_key": issued.key, "slug": "formwell"}),
            content_type="application/json",
            HTTP_USER_AGENT=WP_UA,
        )
    assert response.status_code == 200

    assert "download_url" not in _puc(client, issued.key).json()


def test_renaming_a_product_shows_in_the_next_check(
    client, product, release, issued, django_capture_on_commit_callbacks
):
    from apps.licenses.services import product_upsert

    _puc(client, issued.key)
    with django_capture_on_commit_callbacks(execute=True):
        product_upsert(slug="formwell", name="Formwell Pro")

    assert _puc(client, issued.key).json()["name"] == "Formwell Pro"


def test_a_stale_reader_cannot_cache_over_a_change(release, issued):
    """A check that read the license before a change must not store that old state after it."""
    from apps.licenses.selectors import license_state_by_hash

    key = hotcache.license_key(issued.license.key_hash)
    stale = license_state_by_hash(key_hash=issued.license.key_hash)
    assert stale is not None
    hotcache.license_forget(issued.license.key_hash)  # the change's after-commit drop
    tombstone = hotcache.store().get(key)

    hotcache.license_put(issued.license.key_hash, stale.to_json(), seen=None)  # slow reader

    assert hotcache.is_tombstone(tombstone)
    assert hotcache.store().get(key) == tombstone


def test_a_reader_after_a_change_replaces_only_the_tombstone_it_saw(release, issued):
    from apps.licenses.selectors import license_state_by_hash

    key = hotcache.license_key(issued.license.key_hash)
    hotcache.license_forget(issued.license.key_hash)
    first = hotcache.store().get(key)
    fresh = license_state_by_hash(key_hash=issued.license.key_hash)
    assert fresh is not None
    hotcache.license_forget(issued.license.key_hash)  # a second change meanwhile

    hotcache.license_put(issued.license.key_hash, fresh.to_json(), seen=first)
    assert hotcache.is_tombstone(hotcache.store().get(key))

    second = hotcache.store().get(key)
    hotcache.license_put(issued.license.key_hash, fresh.to_json(), seen=second)
    assert hotcache.store().get(key) == fresh.to_json()


# --- outages --------------------------------------------------------------------------------


@pytest.mark.real_services
def test_with_redis_down_checks_fail_open_from_the_database(client, release, issued, settings):
    settings.CACHES = REDIS_DOWN
    hotcache.store_reset()

    doc = _puc(client, issued.key).json()

    assert doc["download_url"].endswith("/formwell-2.4.1.zip")


@pytest.mark.real_services
def test_with_redis_down_license_changes_fail_closed(client, product, issue, settings):
    issued = issue(activate=None)
    settings.CACHES = REDIS_DOWN
    hotcache.store_reset()

    response = client.post(
        "/updates/v1/licenses/activate",
        json.dumps({"license_key": issued.key, "slug": "formwell"}),
        content_type="application/json",
        HTTP_USER_AGENT=WP_UA,
    )

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json()["code"] == "unavailable"
    assert not issued.license.activations.exists()


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
def test_with_the_database_down_warm_checks_answer_and_activations_say_503(client, release, issue):
    issued = issue(activate=SITE)
    newcomer = issue(activate=None)
    _puc(client, issued.key)
    _puc(client, newcomer.key)
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = 1  # nothing listens there: every query fails
    try:
        warm = _puc(client, issued.key)
        activation = client.post(
            "/updates/v1/licenses/activate",
            json.dumps({"license_key": newcomer.key, "slug": "formwell"}),
            content_type="application/json",
            HTTP_USER_AGENT="WordPress/6.7.1; https://new.example.com/",
        )
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port

    assert warm.status_code == 200
    assert warm.json()["download_url"].endswith("/formwell-2.4.1.zip")
    assert activation.status_code == 503
    assert activation.json() == {
        "code": "unavailable",
        "message": "License changes are temporarily unavailable. "
        "Please try again in a few minutes.",
    }


def test_license_endpoints_are_rate_limited_per_ip_with_retry_after(client, product, settings):
    settings.DEPOT_LICENSE_RATE_LIMIT = 3
    body = json.dumps({"license_key": "NOPE", "slug": "formwell"})

    def attempt(ip):
        return client.post(
            "/updates/v1/licenses/check", body, content_type="application/json", REMOTE_ADDR=ip
        )

    answers = [attempt("203.0.113.7").status_code for _ in range(4)]
    limited = attempt("203.0.113.7")
    other_ip = attempt("203.0.113.8")

    assert answers == [404, 404, 404, 429]
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert other_ip.status_code == 404


def test_update_checks_do_not_use_up_the_license_checks_allowance(
    client, release, issued, settings
):
    settings.DEPOT_LICENSE_RATE_LIMIT = 3
    for _ in range(5):  # a site checking its plugins for updates
        assert _puc(client, issued.key).status_code == 200

    response = client.post(
        "/updates/edd/",
        {"edd_action": "check_license", "license": issued.key, "item_name": "Formwell"},
        HTTP_USER_AGENT=WP_UA,
    )

    assert response.status_code == 200
    assert response.json()["license"] == "valid"


def test_a_change_while_redis_is_down_is_dropped_from_the_cache_by_a_task(
    client, release, issued, django_capture_on_commit_callbacks, monkeypatch
):
    """Redis refuses the tombstone at change time; a (retrying) task writes it afterwards."""
    assert "download_url" in _puc(client, issued.key).json()  # cached as valid
    store = hotcache.store()
    real_changed = store.changed
    calls = {"n": 0}

    def flaky_changed(key, value, ttl):
        calls["n"] += 1
        if calls["n"] == 1:  # the receiver's own attempt, right after commit
            raise hotcache.Unavailable("redis down")
        return real_changed(key, value, ttl)

    monkeypatch.setattr(store, "changed", flaky_changed)
    with django_capture_on_commit_callbacks(execute=True):
        license_revoke(license_id=issued.license.pk)
    monkeypatch.setattr(store, "changed", real_changed)

    assert calls["n"] == 2  # the receiver's, then the task's (run in-process here)
    assert "download_url" not in _puc(client, issued.key).json()
