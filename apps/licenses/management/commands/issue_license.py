"""Issue a license by hand: a gift, a partner, a replacement outside the store."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.utils import timezone

from apps.core.errors import DomainError
from apps.licenses.catalogue import products_named
from apps.licenses.services import license_create


def _whole_number(*, low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high}")
        return number

    return parse


class Command(BaseCommand):
    help = "Issue a license for a product and print its key on stdout (shown in full once here)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--product", required=True, metavar="SLUG")
        parser.add_argument(
            "--sites",
            required=True,
            type=_whole_number(low=0, high=1_000_000),
            help="activation limit; 0 = unlimited",
        )
        parser.add_argument("--email", required=True, help="the licensee's e-mail address")
        term = parser.add_mutually_exclusive_group(required=True)
        term.add_argument(
            "--days",
            type=_whole_number(low=1, high=36_500),
            help="expires this many days from now",
        )
        term.add_argument("--lifetime", action="store_true", help="never expires")

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"].strip()
        try:
            validate_email(email)
        except ValidationError as exc:
            raise CommandError(f"'{email}' is not a valid e-mail address.") from exc
        try:
            [product] = products_named([options["product"]])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        expires_at = None if options["lifetime"] else timezone.now() + timedelta(options["days"])
        license, key = license_create(
            product=product,
            email=email,
            activation_limit=options["sites"],
            expires_at=expires_at,
        )
        sites = (
            "unlimited sites"
            if not license.activation_limit
            else f"{license.activation_limit} site(s)"
        )
        expiry = f"expires {expires_at:%Y-%m-%d}" if expires_at else "lifetime"
        self.stderr.write(f"Issued a {product.name} license for {email}: {sites}, {expiry}.")
        self.stdout.write(key)
