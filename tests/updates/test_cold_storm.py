"""Cold cache storms (issue 10, item 6): concurrent misses of a key cost one database read per
process, and the TTLs written to Redis are spread so entries filled together expire apart."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from apps.licenses.services import license_revoke, product_upsert
from apps.updates.delivery import hotcache
from tests.builders import WP_UA, Issued

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services]

THREADS = 50
UNKNOWN_KEY = "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE-FFFFF"


@dataclass
class Reads:
    """The SQL every thread's connection ran, in the order it ran."""

    sql: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        with self.lock:
            self.sql.append(sql)
        return execute(sql, *args)

    def of(self, *words: str) -> list[str]:
        return [s for s in self.sql if all(word in s for word in words)]

    def count(self) -> dict[str, int]:
        """Count the reads by what they load (a new connection's setup queries are not reads)."""
        return {
            "directory": len(
                self.of("FROM `licenses_product` WHERE `licenses_product`.`is_active` = %s ORDER")
            ),
            "product": len(self.of("FROM `licenses_product`", "`licenses_product`.`slug` = %s")),
            "releases": len(self.of("FROM `updates_release`")),
            "license states": len(self.of("`licenses_license`.`key_hash` IN")),
            "active sites": len(self.of("FROM `licenses_activation`")),
            "all reads": len([s for s in self.sql if "FROM `" in s]),
        }


def _puc(client: Client, key: str) -> Any:
    return client.get(
        "/updates/puc/formwell/",
        {"license_key": key, "installed_version": "2.4.0", "php": "8.2"},
        HTTP_USER_AGENT=WP_UA,
    )


def _cold() -> None:
    cache.clear()  # this run's Redis database only
    hotcache.store_reset()


def _storm(key: str, threads: int = THREADS) -> tuple[list[dict[str, Any]], Reads]:
    """Start `threads` checks at once, each on its own client and connection; count their SQL."""
    reads = Reads()
    start = threading.Barrier(threads, timeout=30)

    def check(_: int) -> dict[str, Any]:
        client = Client()
        try:
            with connection.execute_wrapper(reads):
                start.wait()
                response = _puc(client, key)
            assert response.status_code == 200
            return response.json()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        answers = list(pool.map(check, range(threads), timeout=60))
    return answers, reads


def _one_cold_check(key: str) -> Reads:
    reads = Reads()
    _cold()
    with connection.execute_wrapper(reads):
        assert _puc(Client(), key).status_code == 200
    _cold()
    return reads


def test_50_concurrent_checks_of_a_cold_product_and_key_read_each_once(release, issued):
    alone = _one_cold_check(issued.key)

    answers, reads = _storm(issued.key)

    print(f"\n{THREADS} concurrent cold checks: {reads.count()}; one check alone: {alone.count()}")
    assert all(a["download_url"].endswith("/formwell-2.4.1.zip") for a in answers)
    assert reads.count() == alone.count()
    assert reads.count()["releases"] == 1
    assert reads.count()["license states"] == 1
    assert reads.count()["directory"] == 1


def test_50_concurrent_checks_with_an_unknown_key_look_it_up_once(release):
    _cold()

    answers, reads = _storm(UNKNOWN_KEY)

    print(f"\n{THREADS} concurrent cold checks, unknown key: {reads.count()}")
    assert all("download_url" not in a for a in answers)
    assert reads.count()["license states"] == 1
    assert reads.count()["releases"] == 1


def test_concurrent_checks_after_a_revocation_read_the_change_once_and_all_withhold(
    release, issued: Issued
):
    _puc(Client(), issued.key)  # warm: the state is cached
    license_revoke(license_id=issued.license.pk)  # commits: a tombstone replaces it

    answers, reads = _storm(issued.key)

    print(f"\n{THREADS} concurrent checks after a revocation: {reads.count()}")
    assert all("download_url" not in a for a in answers)
    assert reads.count()["license states"] == 1
    assert reads.count()["releases"] == 0


def test_ttls_written_to_redis_are_spread_within_ten_percent(release):
    from django_redis import get_redis_connection

    products = ["formwell"] + [f"spread-{n}" for n in range(11)]
    for slug in products[1:]:
        product_upsert(slug=slug, name=slug.title())
    _cold()
    client = Client()
    # The products without releases answer 404, their snapshots are cached all the same.
    for n, slug in enumerate(products):
        client.get(
            f"/updates/puc/{slug}/",
            {"license_key": f"UNKNOWN-{n:05d}", "installed_version": "1.0"},
            HTTP_USER_AGENT=WP_UA,
        )

    redis = get_redis_connection("default")
    ttls: dict[str, list[int]] = {}
    for raw in redis.scan_iter(f"{hotcache.PREFIX}*", count=1000):
        kind = raw.decode().removeprefix(hotcache.PREFIX).split(":")[0]
        ttls.setdefault(kind, []).append(int(redis.ttl(raw)))
    print("\nTTLs written:", {k: (min(v), max(v), len(v)) for k, v in sorted(ttls.items())})
    expected = {
        "gen": hotcache.GEN_TTL,
        "meta": hotcache.META_TTL,
        "lic": hotcache.NEGATIVE_TTL,
    }
    for kind, ttl in expected.items():
        spread = int(ttl * hotcache.TTL_SPREAD)
        assert len(ttls[kind]) == len(products), kind
        assert all(ttl - spread - 5 <= t <= ttl + spread for t in ttls[kind]), kind
        assert len(set(ttls[kind])) > 1, f"{kind}: every entry expires at the same second"
    spread = int(hotcache.DIRECTORY_TTL * hotcache.TTL_SPREAD)
    (directory,) = ttls["products"]
    assert hotcache.DIRECTORY_TTL - spread - 5 <= directory <= hotcache.DIRECTORY_TTL + spread
