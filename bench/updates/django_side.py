"""The Django half of bench/updates: seed the bench database, count queries per request.

Run by bench/updates/run.py in a child process whose environment already names the bench
database, Redis db and settings module (never run it against a database you care about):

    python bench/updates/django_side.py seed FIXTURES.json
    python bench/updates/django_side.py queries FIXTURES.json SCENARIOS.json OUT.json
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PRODUCTS = 5
RELEASES = ("1.0.0", "1.1.0", "1.2.0")
LICENSES = 20_000
# license i is for product i % 5 and activated on site i // 5: every site holds one license
# of each product, so a native batch check of a site carries five licensed plugins.
ROTATE_LICENSES = 1_000
ROTATE_SITES = 200
# Licenses after the rotated ones, never warmed: the cost of a first check of a key.
COLD_LICENSES = 50
UNKNOWN_KEYS = 1_000
INSTALLED = "1.0.0"
# Installed on every batch-checking site besides ours: core asks about them too.
THIRD_PARTY = (
    "akismet/akismet.php",
    "woocommerce/woocommerce.php",
    "contact-form-7/wp-contact-form-7.php",
    "wordpress-seo/wp-seo.php",
    "jetpack/jetpack.php",
)


def slug_of(n: int) -> str:
    return f"bench-plugin-{n + 1}"


def site_url_of(site: int) -> str:
    return f"https://shop-{site}.bench-sites.com/"


def _setup() -> None:
    import django

    django.setup()


# --- seeding -----------------------------------------------------------------------------


def _changelog(upto: str) -> str:
    parts = []
    for version in reversed(RELEASES[: RELEASES.index(upto) + 1]):
        items = "".join(
            f"<li>Fix {n}: a realistic changelog line about forms, caching and accessibility.</li>"
            for n in range(8)
        )
        parts.append(f"<h4>{version}</h4><ul>{items}</ul>")
    return "".join(parts)


def seed(fixtures_path: str) -> None:
    _setup()
    from django.db import transaction
    from django.utils import timezone

    from apps.licenses.keys import key_encrypt, key_generate, key_hash
    from apps.licenses.models import Activation, License
    from apps.licenses.sites import site_normalise
    from tests.builders import product_listed, release_make

    started = time.monotonic()
    products = []
    for n in range(PRODUCTS):
        slug = slug_of(n)
        with transaction.atomic():
            product = product_listed(
                slug,
                f"Bench Plugin {n + 1}",
                description="<p>" + "A plugin that does one thing well. " * 15 + "</p>",
                homepage=f"https://vendor.example.com/{slug}/",
                author="Bench Vendor",
                author_homepage="https://vendor.example.com/",
            )
            product.edd_item_id = 9001 + n
            product.save(update_fields=["edd_item_id"])
        for version in RELEASES:
            release_make(
                product,
                version,
                zip_description="Bench plugin.",
                description=product.description,
                installation="<p>Upload the zip in Plugins, activate it, enter your key.</p>",
                changelog=_changelog(version),
                upgrade_notice=f"{version} is a safe update for everyone.",
            )
        products.append(product)

    now = timezone.now()
    keys: list[str] = []
    rows: list[License] = []
    for i in range(LICENSES):
        key = key_generate()
        keys.append(key)
        rows.append(
            License(
                key_hash=key_hash(key),
                key_encrypted=key_encrypt(key),
                key_hint=key[-4:],
                product=products[i % PRODUCTS],
                email=f"buyer{i}@bench.example.com",
                activation_limit=5,
                expires_at=now + timedelta(days=365),
            )
        )
    License.objects.bulk_create(rows, batch_size=2000)
    ids = dict(License.objects.values_list("key_hash", "pk"))
    activations = []
    for i, row in enumerate(rows):
        url = site_url_of(i // PRODUCTS)
        activations.append(
            Activation(license_id=ids[row.key_hash], site=site_normalise(url), site_url=url)
        )
    Activation.objects.bulk_create(activations, batch_size=2000)

    fixtures = {
        "installed": INSTALLED,
        "latest": RELEASES[-1],
        "products": [{"slug": p.slug, "name": p.name, "item_id": p.edd_item_id} for p in products],
        # license i: product i % 5 on site i // 5; the last COLD_LICENSES are never warmed
        "rotate": ROTATE_LICENSES,
        "licenses": [
            {
                "key": keys[i],
                "slug": slug_of(i % PRODUCTS),
                "item_id": 9001 + i % PRODUCTS,
                "site_url": site_url_of(i // PRODUCTS),
            }
            for i in range(ROTATE_LICENSES + COLD_LICENSES)
        ],
        "sites": [
            {
                "site_url": site_url_of(s),
                "licenses": {
                    f"{slug_of(n)}/{slug_of(n)}.php": keys[s * PRODUCTS + n]
                    for n in range(PRODUCTS)
                },
            }
            for s in range(ROTATE_SITES)
        ],
        "unknown_keys": [key_generate() for _ in range(UNKNOWN_KEYS)],
        "third_party": list(THIRD_PARTY),
    }
    Path(fixtures_path).write_text(json.dumps(fixtures))
    print(
        f"seeded {PRODUCTS} products x {len(RELEASES)} releases, {LICENSES} licenses, "
        f"{len(activations)} activations in {time.monotonic() - started:.1f} s"
    )


# --- queries and Redis round trips per request --------------------------------------------


class RedisCounter:
    """Counts round trips (packed sends) and commands on every redis-py connection."""

    def __init__(self) -> None:
        self.round_trips = 0
        self.commands = 0

    @contextmanager
    def installed(self) -> Iterator[None]:
        from redis.connection import AbstractConnection

        originals = {
            name: getattr(AbstractConnection, name)
            for name in ("send_packed_command", "send_command", "pack_commands")
        }
        counter = self

        def send_packed_command(conn: Any, command: Any, check_health: bool = True) -> Any:
            counter.round_trips += 1
            return originals["send_packed_command"](conn, command, check_health)

        def send_command(conn: Any, *args: Any, **kwargs: Any) -> Any:
            counter.commands += 1
            return originals["send_command"](conn, *args, **kwargs)

        def pack_commands(conn: Any, commands: Any) -> Any:
            commands = list(commands)
            counter.commands += len(commands)
            return originals["pack_commands"](conn, commands)

        AbstractConnection.send_packed_command = send_packed_command  # type: ignore[method-assign]
        AbstractConnection.send_command = send_command  # type: ignore[method-assign]
        AbstractConnection.pack_commands = pack_commands  # type: ignore[method-assign]
        try:
            yield
        finally:
            for name, func in originals.items():
                setattr(AbstractConnection, name, func)


def _client_call(client: Any, req: dict[str, Any]) -> Any:
    headers = {k: v for k, v in req["headers"].items() if k.lower() != "connection"}
    extra = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    extra.pop("HTTP_CONTENT_TYPE", None)
    extra["HTTP_HOST"] = "127.0.0.1"
    path, _, query = req["path"].partition("?")
    if req["method"] == "GET":
        return client.get(path, QUERY_STRING=query, **extra)
    return client.generic(
        "POST",
        req["path"],
        data=req["body"].encode(),
        content_type=req["headers"].get("Content-Type", "application/octet-stream"),
        **extra,
    )


def _measure(
    client: Any, requests: list[dict[str, Any]], count: int
) -> tuple[float, float, float, int]:
    """Return (SQL queries, Redis round trips, Redis commands) per request and non-2xx."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    redis_counter = RedisCounter()
    queries = 0
    bad = 0
    with redis_counter.installed():
        for i in range(count):
            req = requests[i % len(requests)]
            with CaptureQueriesContext(connection) as ctx:
                response = _client_call(client, req)
            queries += len(ctx.captured_queries)
            bad += not 200 <= response.status_code < 300
    return queries / count, redis_counter.round_trips / count, redis_counter.commands / count, bad


def queries(fixtures_path: str, scenarios_path: str, out_path: str) -> None:
    """Count per request, warm and cold, for each scenario under this process's settings."""
    _setup()
    from django.test import Client

    from apps.updates.delivery import hotcache

    scenarios: dict[str, list[dict[str, Any]]] = json.loads(Path(scenarios_path).read_text())
    client = Client(raise_request_exception=False)
    results: dict[str, Any] = {}
    for name, requests in scenarios.items():
        # Warm: every request of the rotation once, then the measured sample. A "cold"
        # scenario is measured once per request, unwarmed (each request is a first).
        cold = name.startswith("cold")
        if not cold:
            for req in requests:
                _client_call(client, req)
        sample = len(requests) if cold else min(len(requests), 200)
        sql, trips, commands, bad = _measure(client, requests, sample)
        results[name] = {
            "sql": sql,
            "redis_round_trips": trips,
            "redis_commands": commands,
            "non_2xx": bad,
            "sample": sample,
        }
    # Cold costs for the record: a license whose state is not cached yet, and a check right
    # after a process start (no in-process snapshot), for the first PUC scenario.
    first = next(iter(scenarios.values()))[0]
    hotcache.store_reset()
    sql, trips, commands, _ = _measure(client, [first], 1)
    results["_cold_process"] = {"sql": sql, "redis_round_trips": trips, "redis_commands": commands}
    Path(out_path).write_text(json.dumps(results))


def main(argv: list[str]) -> None:
    commands: dict[str, Callable[..., None]] = {"seed": seed, "queries": queries}
    if len(argv) < 2 or argv[1] not in commands:
        raise SystemExit(__doc__)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.updates")
    commands[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
