"""The Django half of bench/checkout: put a plugin on sale, read back what the orders became.

Run by bench/checkout/run.py in a child process whose environment already names the bench
database and settings (never run it against a database you care about):

    python bench/checkout/django_side.py schema
    python bench/checkout/django_side.py seed OUT.json
    python bench/checkout/django_side.py orders EMAIL_PREFIX OUT.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SLUG = "bench-forms"


def _setup() -> None:
    import django

    django.setup()


class _NoMigrations:
    def __contains__(self, app_label: str) -> bool:
        return True

    def __getitem__(self, app_label: str) -> None:
        return None


def schema() -> None:
    """Create every table straight from the models, without the migrations."""
    _setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.MIGRATION_MODULES = _NoMigrations()
    call_command("migrate", run_syncdb=True, interactive=False, verbosity=0)


def seed(out_path: str) -> None:
    """The tests' shop (tests/builders.py: three tiers) under the bench's slug; write the tier."""
    _setup()
    from tests.builders import shop_create

    shop = shop_create(
        SLUG,
        name="Bench Forms",
        description="<p>" + "Forms that do one thing well. " * 15 + "</p>",
        homepage=f"https://vendor.example.com/{SLUG}/",
        author="Bench Vendor",
    )
    Path(out_path).write_text(json.dumps({"slug": SLUG, "tier": shop.business.pk}))


def orders(email_prefix: str, out_path: str) -> None:
    """Write, per order whose e-mail starts with `email_prefix`, when each step happened."""
    _setup()
    from apps.licenses.models import License
    from apps.store.models import Order, OrderLine

    rows = list(
        Order.objects.filter(email__startswith=email_prefix).values(
            "pk", "number", "email", "status", "created_at", "paid_at", "fulfilled_at"
        )
    )
    license_ids = dict(
        OrderLine.objects.filter(order_id__in=[r["pk"] for r in rows], license_id__isnull=False)
        .order_by("pk")
        .values_list("order_id", "license_id")
    )
    created = dict(
        License.objects.filter(pk__in=license_ids.values()).values_list("pk", "created_at")
    )
    emails: dict[str, dict[str, float | None]] = {}
    try:
        from apps.notifications.models import EmailLog
    except ImportError:  # pragma: no cover - the app is always installed today
        EmailLog = None  # type: ignore[assignment,misc]
    if EmailLog is not None:
        for log in EmailLog.objects.filter(to__startswith=email_prefix).values(
            "to", "template", "status", "sent_at"
        ):
            emails.setdefault(log["to"], {})[log["template"]] = (
                log["sent_at"].timestamp() if log["sent_at"] else None
            )

    def ts(value: object) -> float | None:
        return value.timestamp() if value is not None else None  # type: ignore[attr-defined]

    out = [
        {
            "number": r["number"],
            "email": r["email"],
            "status": r["status"],
            "created": ts(r["created_at"]),
            "paid": ts(r["paid_at"]),
            "fulfilled": ts(r["fulfilled_at"]),
            "license": ts(created.get(license_ids.get(r["pk"]))),
            "emails": emails.get(r["email"], {}),
        }
        for r in rows
    ]
    Path(out_path).write_text(json.dumps(out))


def main(argv: list[str]) -> None:
    commands = {"schema": schema, "seed": seed, "orders": orders}
    if len(argv) < 2 or argv[1] not in commands:
        raise SystemExit(__doc__)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    commands[argv[1]](*argv[2:])  # type: ignore[operator]


if __name__ == "__main__":
    main(sys.argv)
