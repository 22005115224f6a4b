"""Create a realistic demo store: two plugins with tiers and releases, a customer, an admin.

It lives in its own top-layer app because only that layer may use the services of both
`store` and `updates`. Running it again updates the same rows and keeps the demo
license; the admin and customer get fresh passwords, printed each time.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from apps.licenses import selectors as license_selectors
from apps.licenses import services as license_services
from apps.store import selectors as store_selectors
from apps.store import services as store_services
from apps.updates import selectors as update_selectors
from apps.updates import services as update_services
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from apps.licenses.catalogue import Product
    from apps.licenses.models import License
    from apps.store.models import Order, PriceTier
    from apps.updates.models import Release

DEMO_ORDER_NUMBER = "D-DEMO0001"
DEMO_SITE = "https://demo-site.example.com/"
DEMO_COUPON = "LAUNCH20"
TIERS = [
    # name, sites (0 = unlimited), term; prices per plugin below, in the same order
    ("Personal", 1, "year"),
    ("Business", 5, "year"),
    ("Agency", 0, "lifetime"),
]


class DemoPlugin(TypedDict):
    slug: str
    name: str
    prices: tuple[int, int, int]
    version: str
    description: str
    changelog: str


PLUGINS: list[DemoPlugin] = [
    {
        "slug": "formwell",
        "name": "Formwell",
        "prices": (4900, 9900, 29900),
        "version": "2.4.1",
        "description": (
            "Drag-and-drop forms for WordPress: conditional logic, multi-step forms, file "
            "uploads, payments and spam protection without CAPTCHAs."
        ),
        "changelog": "= 2.4.1 =\n* Fix: file uploads larger than 8 MB on PHP 8.3.\n"
        "* Improved: conditional logic editor loads twice as fast.\n\n"
        "= 2.4.0 =\n* New: multi-step forms with a progress bar.",
    },
    {
        "slug": "searchlight-seo",
        "name": "Searchlight SEO",
        "prices": (5900, 11900, 34900),
        "version": "1.9.0",
        "description": (
            "Schema markup, XML sitemaps, a redirect manager and broken-link alerts, "
            "tuned for sites with tens of thousands of posts."
        ),
        "changelog": "= 1.9.0 =\n* New: FAQ and HowTo schema blocks.\n"
        "* Fix: sitemap index with more than 50,000 URLs.",
    },
]


def _password() -> str:
    return "demo-" + secrets.token_urlsafe(9)


def _plugin_seed(plugin: DemoPlugin, *, base_url: str) -> tuple[Product, list[PriceTier], Release]:
    """Upsert one demo plugin with its three tiers, and publish its release once."""
    product = license_services.product_upsert(
        slug=plugin["slug"],
        name=plugin["name"],
        description=plugin["description"],
        author="Depot Demo",
        author_homepage=base_url + "/",
        homepage=f"{base_url}/#product-{plugin['slug']}",
    )
    tiers = [
        store_services.tier_upsert(
            product=product,
            name=name,
            sites_allowed=sites,
            term=term,
            amount=amount,
            position=position,
        )
        for position, ((name, sites, term), amount) in enumerate(
            zip(TIERS, plugin["prices"], strict=True)
        )
    ]
    latest = update_selectors.release_by_version(product=product, version=plugin["version"])
    if latest is None:
        spec = PluginSpec(
            slug=plugin["slug"],
            name=plugin["name"],
            version=plugin["version"],
            description=plugin["description"],
            changelog=plugin["changelog"],
            update_uri=f"{base_url}/updates/",
        )
        # Published the way a vendor publishes: metadata read from the zip itself.
        latest = update_services.release_publish_zip(
            zip_content=plugin_zip_build(spec), product=product
        )
    return product, tiers, latest


def _admin_seed() -> tuple[User, str]:
    """The superuser `admin`, with a fresh password (returned, to be printed)."""
    admin_password = _password()
    admin, _ = get_user_model().objects.get_or_create(
        username="admin", defaults={"email": "admin@example.com"}
    )
    admin.is_staff = admin.is_superuser = True
    admin.set_password(admin_password)
    admin.save()
    return admin, admin_password


def _customer_seed() -> tuple[User, str]:
    """The demo customer's account, with a fresh password (returned, to be printed)."""
    customer_password = _password()
    customer, _ = get_user_model().objects.get_or_create(
        username="customer@example.com",
        defaults={"email": "customer@example.com", "first_name": "Dana", "last_name": "Demo"},
    )
    customer.set_password(customer_password)
    customer.save()
    return customer, customer_password


def _demo_license_seed(
    *, product: Product, tier: PriceTier, customer: User
) -> tuple[Order, License, str]:
    """The demo order for `tier`, paid once, and its license with the key in clear."""
    order = store_selectors.order_by_number(number=DEMO_ORDER_NUMBER)
    if order is None:
        order = store_services.order_create(
            email=customer.email,
            name="Dana Demo",
            country="NL",
            customer=customer,
            lines=[store_services.LineRequest(tier=tier)],
            number=DEMO_ORDER_NUMBER,
        )
        order = store_services.order_mark_paid(order_id=order.pk, gateway="test", reference="demo")
    line = order.lines.get()
    license = license_selectors.license_for_order_line(order_line_id=line.pk)
    if license is None:
        license, key = license_services.license_create(
            product=product,
            email=customer.email,
            customer=customer,
            activation_limit=tier.sites_allowed,
            expires_at=timezone.now() + timedelta(days=365),
            price_id=tier.pk,
            order_line_id=line.pk,
        )
    else:
        key = license_selectors.license_key_reveal(license=license)
    return order, license, key


def _urls(*, base_url: str, slug: str, key: str) -> dict[str, str]:
    """Where each part of the demo is served, the update API's three dialects included."""
    return {
        "store": f"{base_url}/",
        "admin": f"{base_url}/admin/",
        "healthz": f"{base_url}/healthz",
        "readyz": f"{base_url}/readyz",
        "updates": f"{base_url}/updates/",
        "puc": f"{base_url}/updates/puc/{slug}/?license_key={key}"
        "&installed_version=1.0.0&php=8.2&locale=en_US",
        "edd": f"{base_url}/updates/edd/",
        "native": f"{base_url}/updates/v1/check",
    }


class Command(BaseCommand):
    help = "Create (or refresh) the demo catalogue, a demo customer with a license, and an admin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="where the store is served"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            summary = self._seed(base_url=options["base_url"].rstrip("/"))
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            self._print(summary)

    def _seed(self, *, base_url: str) -> dict[str, Any]:
        products = [_plugin_seed(plugin, base_url=base_url) for plugin in PLUGINS]
        admin, admin_password = _admin_seed()
        customer, customer_password = _customer_seed()
        store_services.coupon_upsert(code=DEMO_COUPON, kind="percent", value=20, all_products=True)

        product, tiers, _ = products[0]
        business = tiers[1]
        order, license, key = _demo_license_seed(product=product, tier=business, customer=customer)
        # A demo WordPress site the license is active on, so update checks get a package.
        license_services.license_activate(license_id=license.pk, site_url=DEMO_SITE)

        return {
            "products": [p.slug for p, _, _ in products],
            "releases": {p.slug: r.version for p, _, r in products},
            "license": {
                "key": key,
                "product": product.slug,
                "sites": business.sites_allowed,
                "expires_at": license.expires_at.isoformat() if license.expires_at else None,
            },
            "admin": {"username": admin.username, "password": admin_password},
            "customer": {"email": customer.email, "password": customer_password},
            "order": order.number,
            "urls": _urls(base_url=base_url, slug=product.slug, key=key),
            "site": DEMO_SITE,
            "coupon": DEMO_COUPON,
        }

    def _print(self, s: dict[str, Any]) -> None:
        urls = s["urls"]
        ua = f"WordPress/6.7.1; {s['site']}"
        slug = s["license"]["product"]
        plugin = f"{slug}/{slug}.php"
        lines = [
            "",
            "Depot demo data is ready.",
            f"  Store:     {urls['store']}",
            f"  Admin:     {urls['admin']}  (user {s['admin']['username']}, "
            f"password {s['admin']['password']})",
            f"  Customer:  {s['customer']['email']} / {s['customer']['password']}",
            f"  License:   {s['license']['key']}  ({s['license']['product']}, "
            f"{s['license']['sites']} sites)",
            f"  Plugins:   {', '.join(f'{k} {v}' for k, v in s['releases'].items())}",
            "",
            f"  Demo site: {s['site']} (the license is active there)",
            "",
            "  Buy a plugin: open the store, add a tier to the cart, use coupon "
            f"{s['coupon']} (20% off),",
            "  and pay with the test card 4242 4242 4242 4242 (any future expiry, any CVC);",
            "  4000 0000 0000 0002 is declined. The confirmation shows the key once it is issued.",
            "",
            "  Try the update API (as the demo site's WordPress would call it):",
            f"    curl -s {urls['readyz']}",
            f"    curl -s -A '{ua}' '{urls['puc']}'",
            f"    curl -s -A '{ua}' {urls['edd']} -d edd_action=get_version "
            f"-d slug={s['license']['product']} -d license={s['license']['key']} -d version=1.0.0",
            f"    curl -s -A '{ua}' {urls['native']} -H 'Content-Type: application/json' "
            f"""-d '{{"plugins": {{"{plugin}": {{"Version": "1.0.0"}}}}, """
            f""""licenses": {{"{plugin}": "{s["license"]["key"]}"}}}}'""",
            "  The package URL in each answer downloads the zip; add .sig for its signature.",
            "",
        ]
        self.stdout.write("\n".join(lines))
