"""Seed `make stack` with a store that looks lived in: plugins, tiers, releases, licenses.

Six plugins with three tiers each and three releases each (published through the update
service, so the zips go to the stack's S3 bucket), thousands of licenses held by hundreds of
customers, most of them active on one or more sites, some expired, disabled or revoked, and
the admin with a TOTP device. Run by deploy/stack/run.py; `--summary` writes what the check
script needs (a licensed site and its key, the admin's credentials) as JSON.

Why licenses go through `license_import` and not `license_create`: each `license_create`
sends a durable LicenseIssued (an outbox row and a broker message per license), which for
thousands of licenses is most of the seeding time and nothing the stack needs; an import keeps
a key we hand it exactly as one of ours (HMAC for lookup, encrypted copy), so every seeded key
verifies through the update API. Customers are plain users, made with one bulk_create.

Running it again publishes nothing twice and leaves the licenses alone; the admin gets a new
password and a new TOTP secret.
"""

from __future__ import annotations

import io
import json
import random
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from apps.licenses import selectors as license_selectors
from apps.licenses import services as license_services
from apps.store import services as store_services
from apps.updates import selectors as update_selectors
from apps.updates import services as update_services
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from apps.licenses.catalogue import Product
    from apps.store.models import PriceTier

SAMPLE_EMAIL = "stack-sample@example.com"
SAMPLE_SITE = "https://stack-check.example.com/"
CUSTOMER_DOMAIN = "customers.stack.example"
COUPON = "LAUNCH20"
# name, sites (0 = unlimited), term, share of the licenses sold
TIERS = [
    ("Personal", 1, "year", 0.55),
    ("Business", 5, "year", 0.35),
    ("Agency", 0, "lifetime", 0.10),
]
# Depot's key shape (apps.licenses.keys): Crockford base32, six groups of five.
KEY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class StackPlugin(TypedDict):
    slug: str
    name: str
    prices: tuple[int, int, int]
    versions: tuple[str, str, str]
    description: str


PLUGINS: list[StackPlugin] = [
    {
        "slug": "formwell",
        "name": "Formwell",
        "prices": (4900, 9900, 29900),
        "versions": ("2.3.0", "2.4.0", "2.4.1"),
        "description": "Drag-and-drop forms with conditional logic, payments and file uploads.",
    },
    {
        "slug": "searchlight-seo",
        "name": "Searchlight SEO",
        "prices": (5900, 11900, 34900),
        "versions": ("1.8.0", "1.8.2", "1.9.0"),
        "description": "Schema markup, XML sitemaps, redirects and broken-link alerts.",
    },
    {
        "slug": "cachet",
        "name": "Cachet",
        "prices": (3900, 7900, 19900),
        "versions": ("3.0.0", "3.1.0", "3.1.4"),
        "description": "Page and object caching with a CDN purge queue and cache warming.",
    },
    {
        "slug": "ledgerly",
        "name": "Ledgerly",
        "prices": (6900, 13900, 39900),
        "versions": ("1.0.0", "1.1.0", "1.2.0"),
        "description": "Invoices, quotes and recurring billing for WooCommerce stores.",
    },
    {
        "slug": "mosaic-gallery",
        "name": "Mosaic Gallery",
        "prices": (2900, 5900, 14900),
        "versions": ("4.2.0", "4.3.0", "4.3.1"),
        "description": "Masonry, justified and slider galleries with lazy-loaded images.",
    },
    {
        "slug": "bookable",
        "name": "Bookable",
        "prices": (7900, 15900, 44900),
        "versions": ("2.0.0", "2.0.3", "2.1.0"),
        "description": "Appointments and classes with calendars, reminders and deposits.",
    },
]


def key_new(rng: random.SystemRandom) -> str:
    """A key in Depot's own shape (150 random bits), as `license_create` would make."""
    symbols = "".join(rng.choice(KEY_ALPHABET) for _ in range(30))
    return "-".join(symbols[i : i + 5] for i in range(0, 30, 5))


def plugin_seed(plugin: StackPlugin, *, updates_url: str) -> tuple[Product, list[PriceTier], int]:
    """Upsert a plugin and its tiers; publish each of its releases once, oldest first."""
    product = license_services.product_upsert(
        slug=plugin["slug"],
        name=plugin["name"],
        description=plugin["description"],
        author="Depot Stack",
        author_homepage="https://example.com/",
    )
    tiers = [
        store_services.tier_upsert(
            product=product, name=name, sites_allowed=sites, term=term, amount=amount, position=i
        )
        for i, ((name, sites, term, _), amount) in enumerate(
            zip(TIERS, plugin["prices"], strict=True)
        )
    ]
    published = 0
    for version in plugin["versions"]:
        if update_selectors.release_by_version(product=product, version=version) is not None:
            continue
        spec = PluginSpec(
            slug=plugin["slug"],
            name=plugin["name"],
            version=version,
            description=plugin["description"],
            author="Depot Stack",
            update_uri=f"{updates_url}/updates/",
            changelog=f"= {version} =\n* Improved: faster admin screens.\n* Fix: PHP 8.3 notices.",
        )
        update_services.release_publish_zip(zip_content=plugin_zip_build(spec), product=product)
        published += 1
    return product, tiers, published


def customers_seed(count: int) -> list[User]:
    """`count` customer accounts in one bulk_create (unusable passwords: they would reset)."""
    users = get_user_model()
    emails = [f"customer{i:05d}@{CUSTOMER_DOMAIN}" for i in range(count)]
    existing = set(users.objects.filter(email__in=emails).values_list("email", flat=True))
    password = make_password(None)
    users.objects.bulk_create(
        [
            users(username=email, email=email, password=password, first_name=f"Customer {i}")
            for i, email in enumerate(emails)
            if email not in existing
        ],
        batch_size=1000,
    )
    return list(users.objects.filter(email__in=emails).order_by("pk"))


def licenses_seed(
    *,
    count: int,
    catalogue: list[tuple[Product, list[PriceTier]]],
    customers: list[User],
    record: list[dict[str, Any]] | None = None,
) -> tuple[int, int]:
    """Import `count` licenses with Depot-shaped keys; return (licenses, activations).

    `record` collects each license's key, plugin, state and sites: what bench/load's
    simulated WordPress sites check with (the keys exist in clear nowhere else).
    """
    rng = random.SystemRandom()
    now = timezone.now()
    weights = [share for *_, share in TIERS]
    statuses = ["active"] * 92 + ["disabled"] * 3 + ["revoked"] * 5
    activations = 0
    for n in range(count):
        product, tiers = catalogue[n % len(catalogue)]
        tier = rng.choices(tiers, weights=weights)[0]
        if tier.term == "lifetime":
            expires_at = None
        else:
            # Bought over the last two years: about a third have lapsed without renewal.
            expires_at = now + timedelta(days=365 - rng.randrange(0, 730))
        status = rng.choice(statuses)
        limit = tier.sites_allowed
        used = rng.randint(0, limit if limit else 8) if status == "active" else 0
        sites = [(f"https://shop{n}-{s}.example.com/", False) for s in range(used)]
        if used and rng.random() < 0.2:
            sites.append((f"https://staging.shop{n}.example.com/", True))
        customer = customers[n % len(customers)]
        key = key_new(rng)
        license_services.license_import(
            key=key,
            product=product,
            email=customer.email,
            customer=customer,
            status=status,
            activation_limit=limit,
            expires_at=expires_at,
            price_id=tier.pk,
            sites=sites,
        )
        activations += len(sites)
        if record is not None:
            record.append(
                {
                    "key": key,
                    "slug": product.slug,
                    "name": product.name,
                    "status": status,
                    "expired": expires_at is not None and expires_at < now,
                    "sites": [url for url, _ in sites],
                }
            )
    return count, activations


def sample_seed(*, product: Product, tier: PriceTier) -> dict[str, str]:
    """One known license, active on a known site: what the check script's WordPress uses."""
    users = get_user_model()
    customer, _ = users.objects.get_or_create(
        username=SAMPLE_EMAIL, defaults={"email": SAMPLE_EMAIL, "first_name": "Sam"}
    )
    held = license_selectors.licenses_of_customer(customer_id=customer.pk)
    if held:
        license = held[0]
        key = license_selectors.license_key_reveal(license=license)
    else:
        key = key_new(random.SystemRandom())
        license, _ = license_services.license_import(
            key=key,
            product=product,
            email=SAMPLE_EMAIL,
            customer=customer,
            status="active",
            activation_limit=tier.sites_allowed,
            expires_at=timezone.now() + timedelta(days=365),
            price_id=tier.pk,
            sites=[(SAMPLE_SITE, False)],
        )
    return {
        "key": key,
        "site": SAMPLE_SITE,
        "product": product.slug,
        "product_name": product.name,
        "tier": tier.name,
    }


def admin_seed() -> dict[str, str]:
    """The superuser `admin` with a new password and a new TOTP device (production asks 2FA)."""
    password = "stack-" + secrets.token_urlsafe(12)
    admin, _ = get_user_model().objects.get_or_create(
        username="admin", defaults={"email": "admin@example.com"}
    )
    admin.is_staff = admin.is_superuser = True
    admin.set_password(password)
    admin.save()
    out = io.StringIO()
    call_command("staff_totp_enrol", "admin", "--replace", stdout=out)
    printed = out.getvalue()
    secret = re.search(r"Secret:\s+(\S+)", printed)
    uri = re.search(r"URI:\s+(\S+)", printed)
    return {
        "username": "admin",
        "password": password,
        "totp_secret": secret.group(1) if secret else "",
        "totp_uri": uri.group(1) if uri else "",
    }


class Command(BaseCommand):
    help = "Seed the `make stack` catalogue: plugins, tiers, releases, thousands of licenses."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--licenses", type=int, default=3000, help="how many licenses")
        parser.add_argument("--summary", type=Path, help="write a JSON summary to this file")
        parser.add_argument(
            "--sites-file",
            type=Path,
            help="write each seeded license (key, plugin, state, sites) as a JSON line, for "
            "bench/load; the file holds keys in clear, so it is made readable by its owner only",
        )
        parser.add_argument(
            "--updates-url",
            default="",
            help="the updates host (default DEPOT_UPDATES_BASE_URL), for the plugins' Update URI",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        updates_url = (options["updates_url"] or settings.DEPOT_UPDATES_BASE_URL).rstrip("/")
        catalogue: list[tuple[Product, list[PriceTier]]] = []
        releases = 0
        for plugin in PLUGINS:
            product, tiers, published = plugin_seed(plugin, updates_url=updates_url)
            catalogue.append((product, tiers))
            releases += published
        store_services.coupon_upsert(code=COUPON, kind="percent", value=20, all_products=True)
        counts: dict[str, int] = {
            "products": len(catalogue),
            "tiers": sum(len(tiers) for _, tiers in catalogue),
            "releases_published": releases,
        }
        with transaction.atomic():
            first, first_tiers = catalogue[0]
            fresh = not get_user_model().objects.filter(username=SAMPLE_EMAIL).exists()
            sample = sample_seed(product=first, tier=first_tiers[1])
            if fresh and options["licenses"] > 0:
                customers = customers_seed(max(1, options["licenses"] * 2 // 5))
                record: list[dict[str, Any]] | None = [] if options["sites_file"] else None
                licenses, activations = licenses_seed(
                    count=options["licenses"],
                    catalogue=catalogue,
                    customers=customers,
                    record=record,
                )
                if record is not None:
                    options["sites_file"].touch(mode=0o600)
                    options["sites_file"].write_text(
                        "".join(json.dumps(row) + "\n" for row in record)
                    )
                counts.update(customers=len(customers), licenses=licenses, activations=activations)
        admin = admin_seed()
        summary = {"counts": counts, "sample": sample, "admin": admin, "coupon": COUPON}
        if options["summary"]:
            options["summary"].write_text(json.dumps(summary, indent=2) + "\n")
        self.stdout.write(json.dumps({"counts": counts, "sample": sample}))
