"""A change is seen by the very next check on every server process, not only the test client.

Two updates-role servers (gunicorn, one worker each, on this run's database and Redis, with the
role's settings and lean path as deployed: tests.roles.updates) answer from their own
in-process copies once warm (apps.updates.delivery.nearcache). A revocation, a deactivation
through one server's API, a publish and a product rename, made while both hold warm copies,
must show in the next check each of them answers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connections

from apps.licenses.services import license_revoke, product_upsert
from tests.builders import SITE, WP_UA
from tests.helpers import Gunicorn, gunicorn_start

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]

WARM_CHECKS = 3


@pytest.fixture(scope="module")
def servers(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Gunicorn]]:
    with django_db_blocker.unblock():
        name = connections["default"].settings_dict["NAME"]
    logs: Path = tmp_path_factory.mktemp("servers")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.roles.updates",
        "DEPOT_TEST_SERVICES": "real",
        "DEPOT_TEST_DB_NAME": name,
        "GUNICORN_ACCESS_LOG": "",
    }
    started: list[Gunicorn] = []
    try:
        for n in range(2):
            started.append(gunicorn_start("updates.conf.py", env=env, log=logs / f"{n}.log"))
        yield started
    finally:
        for server in started:
            server.stop(grace=10)


def _puc(server: Gunicorn, key: str) -> dict[str, Any]:
    response = requests.get(
        f"http://127.0.0.1:{server.port}/updates/puc/formwell/",
        params={"license_key": key, "installed_version": "2.4.0", "php": "8.2"},
        headers={"User-Agent": WP_UA},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _edd_check(server: Gunicorn, key: str, item_name: str) -> dict[str, Any]:
    response = requests.post(
        f"http://127.0.0.1:{server.port}/updates/edd/",
        data={"edd_action": "check_license", "license": key, "item_name": item_name, "url": SITE},
        headers={"User-Agent": WP_UA},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _warm(servers: list[Gunicorn], key: str) -> list[dict[str, Any]]:
    """Check from each server until each holds its copy; return each one's last answer."""
    answers = []
    for server in servers:
        for _ in range(WARM_CHECKS):
            answer = _puc(server, key)
        answers.append(answer)
    return answers


def test_a_revocation_is_seen_by_the_next_check_on_every_process(servers, release, issued):
    assert all("download_url" in doc for doc in _warm(servers, issued.key))
    assert all(_edd_check(s, issued.key, "Formwell")["license"] == "valid" for s in servers)

    license_revoke(license_id=issued.license.pk)

    for server in servers:
        doc = _puc(server, issued.key)
        assert "download_url" not in doc
        assert doc["upgrade_notice"] == "This license was revoked."
        assert _edd_check(server, issued.key, "Formwell")["license"] == "disabled"


def test_a_deactivation_through_one_process_is_seen_by_the_next_check_on_the_other(
    servers, release, issued
):
    first, second = servers
    assert all("download_url" in doc for doc in _warm(servers, issued.key))

    response = requests.post(
        f"http://127.0.0.1:{first.port}/updates/v1/licenses/deactivate",
        json={"license_key": issued.key, "slug": "formwell"},
        headers={"User-Agent": WP_UA},
        timeout=10,
    )
    assert response.status_code == 200, response.text

    assert "download_url" not in _puc(second, issued.key)
    assert "download_url" not in _puc(first, issued.key)


def test_a_publish_is_offered_by_the_next_check_on_every_process(servers, publish, issued):
    publish("2.4.1")
    assert all(doc["version"] == "2.4.1" for doc in _warm(servers, issued.key))

    publish("2.5.0")

    for server in servers:
        doc = _puc(server, issued.key)
        assert doc["version"] == "2.5.0"
        assert doc["download_url"].endswith("/formwell-2.5.0.zip")


def test_a_product_rename_shows_in_the_next_check_on_every_process(servers, release, issued):
    assert all(doc["name"] == "Formwell" for doc in _warm(servers, issued.key))
    assert all(_edd_check(s, issued.key, "Formwell")["license"] == "valid" for s in servers)

    product_upsert(slug="formwell", name="Formwell Pro")

    for server in servers:
        assert _puc(server, issued.key)["name"] == "Formwell Pro"
        # EDD finds a product by its name: the new one now, and the old one no longer.
        assert _edd_check(server, issued.key, "Formwell Pro")["license"] == "valid"
        assert _edd_check(server, issued.key, "Formwell")["license"] == "item_name_mismatch"


def _through_django(server: Gunicorn) -> float:
    """Requests this server's Django handler has seen (django-prometheus, by transport)."""
    text = requests.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith('django_http_requests_total_by_transport_total{transport="http"}'):
            return float(line.split()[-1])
    return 0.0


def test_the_servers_answer_checks_on_the_updates_roles_lean_path(servers, release, issued):
    # What production runs: the checks above never reach Django's handler (only /metrics does).
    for server in servers:
        before = _through_django(server)
        for _ in range(3):
            _puc(server, issued.key)
            _edd_check(server, issued.key, "Formwell")
        assert _through_django(server) - before == 1
