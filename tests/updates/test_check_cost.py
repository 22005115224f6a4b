"""What one update check may cost: foreign slugs and unknown keys are cheap, batches and clients
are bounded (issue 9, item 2)."""

from __future__ import annotations

import json
import secrets
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.licenses.services import product_upsert
from apps.updates.delivery import hotcache
from tests.builders import SITE, WP_UA
from tests.updates.test_hot_path import REDIS_DOWN

pytestmark = pytest.mark.django_db


def _redis_keys() -> set[str]:
    from django_redis import get_redis_connection

    hotcache.counters_flush()  # what the process sends within a second anyway
    return {k.decode() for k in get_redis_connection("default").scan_iter("*", count=1000)}


def _random_key() -> str:
    return "-".join(secrets.token_hex(3).upper() for _ in range(6))


def _foreign_slugs(count: int) -> list[str]:
    return [f"not-ours-{uuid.uuid4().hex[:12]}" for _ in range(count)]


def _native(client, plugins, licenses, ip="198.51.100.10"):
    body = json.dumps({"plugins": plugins, "licenses": licenses, "site_url": SITE})
    return client.post(
        "/updates/v1/check",
        body,
        content_type="application/json",
        HTTP_USER_AGENT=WP_UA,
        REMOTE_ADDR=ip,
    )


def _puc(client, slug="formwell", key="", ip="198.51.100.10"):
    return client.get(
        f"/updates/puc/{slug}/",
        {"license_key": key, "installed_version": "2.4.0"},
        HTTP_USER_AGENT=WP_UA,
        REMOTE_ADDR=ip,
    )


def _about(keys: set[str], words: list[str]) -> list[str]:
    return sorted(k for k in keys if any(word in k for word in words))


# --- foreign slugs and unknown keys ---------------------------------------------------------


@pytest.mark.real_services
def test_a_check_of_200_foreign_slugs_with_random_keys_costs_at_most_two_queries_and_no_cache_keys(
    client, release
):
    # Given a site that names 200 plugins that are not ours, each with a random key
    slugs = _foreign_slugs(200)
    plugins = {f"{s}/{s}.php": {"Version": "1.0"} for s in slugs}
    licenses = {f"{s}/{s}.php": _random_key() for s in slugs}
    before = _redis_keys()

    # When it checks (with nothing cached yet: the worst case)
    with CaptureQueriesContext(connection) as queries:
        response = _native(client, plugins, licenses)

    # Then the answer is empty, at most two queries ran, and no key names a foreign slug
    after = _redis_keys()
    assert response.status_code == 200
    assert response.json() == {"plugins": {}, "no_update": {}, "translations": []}
    assert len(queries) <= 2, f"{len(queries)} queries"
    assert _about(after - before, slugs) == []
    assert sorted(after - before) == sorted(
        {hotcache.DIRECTORY_KEY, hotcache.rate_key("check", "198.51.100.10")} - before
    )


@pytest.mark.real_services
def test_edd_get_version_of_100_foreign_products_costs_at_most_two_queries_and_no_cache_keys(
    client, release
):
    # Given an EDD batch of 100 products that are not ours, named by slug, id and name
    slugs = _foreign_slugs(100)
    params = {"edd_action": "get_version"}
    for n, slug in enumerate(slugs):
        params[f"products[{slug}][slug]"] = slug
        params[f"products[{slug}][license]"] = _random_key()
        params[f"products[{slug}][item_name]"] = slug.replace("-", " ").title()
        params[f"products[{slug}][item_id]"] = str(900000 + n)
        params[f"products[{slug}][url]"] = SITE
    before = _redis_keys()

    # When it is sent
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/updates/edd/", params, HTTP_USER_AGENT=WP_UA)

    # Then every entry gets EDD's error shape, cheaply, and nothing is cached about them
    body = response.json()
    assert response.status_code == 200
    assert list(body) == slugs
    assert {b["msg"] for b in body.values()} == {"This server does not sell that plugin."}
    assert len(queries) <= 2, f"{len(queries)} queries"
    assert _about(_redis_keys() - before, slugs) == []


def test_200_unknown_keys_for_our_plugin_cost_one_lookup_and_are_cached_negatively(client, release):
    # Given a batch that names our plugin under 200 plugin files, each with a random key
    _puc(client)  # the product's metadata is warm: only the keys are new
    files = [f"formwell/file-{n}.php" for n in range(200)]
    plugins = {f: {"Version": "2.4.0"} for f in files}
    licenses = {f: _random_key() for f in files}

    # When it is checked twice
    with CaptureQueriesContext(connection) as first:
        answer = _native(client, plugins, licenses).json()
    with CaptureQueriesContext(connection) as second:
        again = _native(client, plugins, licenses).json()

    # Then the first check looks all keys up in one query, the second in none
    assert len(first) == 1, f"{len(first)} queries"
    assert len(second) == 0
    assert again == answer
    notice = "This license key is not valid. Check it in your account."
    assert {item["upgrade_notice"] for item in answer["plugins"].values()} == {notice}
    assert {item["package"] for item in answer["plugins"].values()} == {""}


def test_our_plugin_among_199_foreign_ones_costs_what_a_check_of_it_alone_costs(
    client, release, issued
):
    # Given a site with our licensed plugin and 199 others, and the product's metadata warm
    _puc(client)
    slugs = _foreign_slugs(199)
    plugins = {f"{s}/{s}.php": {"Version": "1.0"} for s in slugs}
    plugins["formwell/formwell.php"] = {"Version": "2.4.0"}
    licenses = {f"{s}/{s}.php": _random_key() for s in slugs}
    licenses["formwell/formwell.php"] = issued.key

    # When it checks with the key cold, then warm
    with CaptureQueriesContext(connection) as cold:
        answer = _native(client, plugins, licenses).json()
    with CaptureQueriesContext(connection) as warm:
        _native(client, plugins, licenses)

    # Then it is offered the package, for the license and its active sites (two), then nothing
    assert list(answer["plugins"]) == ["formwell/formwell.php"]
    assert answer["plugins"]["formwell/formwell.php"]["package"].endswith("/formwell-2.4.1.zip")
    assert answer["no_update"] == {}
    assert len(cold) == 2, f"{len(cold)} queries"
    assert len(warm) == 0


def test_five_cold_license_keys_in_one_batch_cost_what_one_does(client, release, issue):
    # Given a site with our plugin under five plugin files, each with a key of its own that is
    # active on the site, and the product's metadata warm
    _puc(client)
    keys = {f"formwell/file-{n}.php": issue().key for n in range(5)}
    plugins = {file: {"Version": "2.4.0"} for file in keys}

    # When the batch is checked with every key cold
    with CaptureQueriesContext(connection) as cold:
        answer = _native(client, plugins, keys).json()

    # Then every file is offered the package, and the keys and all their sites were read in
    # two queries, not one more per license
    assert {item["package"] != "" for item in answer["plugins"].values()} == {True}
    assert len(answer["plugins"]) == 5
    assert len(cold) == 2, f"{len(cold)} queries"


def test_a_new_product_is_answered_at_the_next_check(
    client, release, django_capture_on_commit_callbacks
):
    # Given a check that found no plugin called "searchlight" (so our slugs are cached)
    assert _puc(client, "searchlight").json()["code"] == "unknown_product"

    # When the product is created
    with django_capture_on_commit_callbacks(execute=True):
        product_upsert(slug="searchlight", name="Searchlight SEO")

    # Then the next check knows it (it has no release yet)
    assert _puc(client, "searchlight").json()["code"] == "no_release"


def test_a_renamed_product_is_found_by_its_new_edd_item_name(
    client, release, issued, django_capture_on_commit_callbacks
):
    # Given an EDD client that names the product by a name it does not have yet
    params = {"edd_action": "get_version", "slug": "fw", "item_name": "Formwell Pro", "url": SITE}
    params["license"] = issued.key
    assert client.post("/updates/edd/", params).json()["new_version"] == ""

    # When the product is renamed
    with django_capture_on_commit_callbacks(execute=True):
        product_upsert(slug="formwell", name="Formwell Pro")

    # Then the next get_version finds it by that name
    assert client.post("/updates/edd/", params).json()["new_version"] == "2.4.1"


# --- batch sizes ----------------------------------------------------------------------------


def test_a_native_check_over_200_plugins_is_refused_without_a_query(
    client, release, django_assert_num_queries
):
    slugs = _foreign_slugs(201)
    plugins = {f"{s}/{s}.php": {"Version": "1.0"} for s in slugs}

    with django_assert_num_queries(0):
        response = _native(client, plugins, {})

    assert response.status_code == 400
    assert response.json() == {
        "code": "batch_too_large",
        "message": "At most 200 plugins per check; split the request.",
    }


def test_an_edd_batch_over_100_products_is_refused_in_edds_shape_without_a_query(
    client, release, django_assert_num_queries
):
    params = {"edd_action": "get_version"}
    for slug in _foreign_slugs(101):
        params[f"products[{slug}][slug]"] = slug

    with django_assert_num_queries(0):
        response = client.post("/updates/edd/", params, HTTP_USER_AGENT=WP_UA)

    assert response.status_code == 200
    body = response.json()
    assert body["sections"] == "" and body["package"] == ""
    assert body["msg"] == "At most 100 products per request."


# --- per-address rate limit -----------------------------------------------------------------


def test_update_checks_are_rate_limited_per_address_with_retry_after(client, release, settings):
    # Given a limit of three update checks a minute per address
    settings.DEPOT_UPDATE_RATE_LIMIT = 3
    slugs = ["formwell"]

    # When one address sends a PUC check, a native check, an EDD check, then another one
    answers = [
        _puc(client).status_code,
        _native(client, {"formwell/formwell.php": {"Version": "2.4.0"}}, {}).status_code,
        client.post(
            "/updates/edd/",
            {"edd_action": "get_version", "slug": slugs[0], "url": SITE},
            REMOTE_ADDR="198.51.100.10",
        ).status_code,
    ]
    limited = _puc(client)
    other_address = _puc(client, ip="198.51.100.11")

    # Then the fourth is refused with a wait, and another address is still answered
    assert answers == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert "update checks" in limited.json()["message"]
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert other_address.status_code == 200


def test_a_rate_limited_batch_reads_nothing_from_the_database(
    client, release, settings, django_assert_num_queries
):
    settings.DEPOT_UPDATE_RATE_LIMIT = 1
    _puc(client)
    plugins = {"formwell/formwell.php": {"Version": "2.4.0"}}

    with django_assert_num_queries(0):
        response = _native(client, plugins, {"formwell/formwell.php": _random_key()})

    assert response.status_code == 429


@pytest.mark.real_services
def test_with_redis_down_update_checks_fail_open_past_the_limit(client, release, settings):
    # Given a limit of one check a minute, and Redis unreachable
    settings.DEPOT_UPDATE_RATE_LIMIT = 1
    settings.CACHES = REDIS_DOWN
    hotcache.store_reset()

    # When one address checks three times
    answers = [_puc(client).status_code for _ in range(3)]

    # Then every check is answered from the database
    assert answers == [200, 200, 200]


def test_a_product_deleted_in_the_admin_is_forgotten_by_the_next_check(
    client, release, django_capture_on_commit_callbacks
):
    # Given a plugin the directory knows (a check found it)
    from django.contrib.auth.models import User

    from apps.licenses.models import Product

    with django_capture_on_commit_callbacks(execute=True):
        product = product_upsert(slug="searchlight", name="Searchlight SEO")
    assert _puc(client, "searchlight").json()["code"] == "no_release"
    admin = Client()
    admin.force_login(User.objects.create_superuser("boss", "boss@example.com", "x"))

    # When an admin deletes it
    with django_capture_on_commit_callbacks(execute=True):
        deleted = admin.post(f"/admin/licenses/product/{product.pk}/delete/", {"post": "yes"})

    # Then the next check treats the slug as foreign: no query spent looking for it
    assert deleted.status_code == 302 and not Product.objects.filter(slug="searchlight").exists()
    _puc(client, "formwell")  # the directory is read again by this process
    with CaptureQueriesContext(connection) as queries:
        answer = _puc(client, "searchlight").json()
    assert answer["code"] == "unknown_product"
    assert len(queries) == 0, [q["sql"] for q in queries]
