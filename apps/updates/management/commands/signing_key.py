"""Make a package-signing key, or print the public key vendors give WordPress."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.updates.publishing.signing import (
    public_key_base64,
    signing_key_from_base64,
    signing_key_generate,
)


class Command(BaseCommand):
    help = (
        "--generate prints a new Ed25519 seed for the DEPOT_SIGNING_KEY variable; --public "
        "prints the public key of the configured DEPOT_SIGNING_KEY, for wp_trusted_keys."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument(
            "--generate", action="store_true", help="print a new base64 seed (nothing is stored)"
        )
        what.add_argument(
            "--public", action="store_true", help="print the public key of DEPOT_SIGNING_KEY"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate"]:
            self.stderr.write(
                "New signing key below. Store it as DEPOT_SIGNING_KEY in the secret store; "
                "sites trust only its public key (signing_key --public), so keep it for good."
            )
            self.stdout.write(signing_key_generate())
            return
        seed: str = settings.DEPOT_SIGNING_KEY
        if not seed:
            raise CommandError(
                "DEPOT_SIGNING_KEY is not set, so packages are not signed. Create one with "
                "`manage.py signing_key --generate`."
            )
        try:
            key = signing_key_from_base64(seed)
        except ValueError as exc:
            raise CommandError(f"DEPOT_SIGNING_KEY is not usable: {exc}.") from exc
        self.stdout.write(public_key_base64(key))
