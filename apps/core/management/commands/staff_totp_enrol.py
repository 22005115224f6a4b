"""Give a staff user a TOTP device for the admin's second factor, and print its secret once."""

from __future__ import annotations

import io
from base64 import b32encode
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = (
        "Enrol a staff user for the admin's TOTP second factor (required when "
        "DEPOT_ADMIN_REQUIRE_2FA is on, as in production). Prints an otpauth:// URI and the "
        "secret to add to an authenticator app; --qr also draws the URI as a QR code. The "
        "secret is shown only here, once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="a staff user (create one with createsuperuser)")
        parser.add_argument("--name", default="authenticator", help="what the device is called")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="replace the user's TOTP devices (a lost phone); the old codes stop working",
        )
        parser.add_argument("--qr", action="store_true", help="draw the URI as a QR code too")

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"]
        with transaction.atomic():
            user = (
                User.objects.select_for_update()
                .filter(username=username, is_staff=True, is_active=True)
                .first()
            )
            if user is None:
                raise CommandError(
                    f"No active staff user {username!r}. Create one first: "
                    "manage.py createsuperuser"
                )
            existing = TOTPDevice.objects.filter(user=user)
            if existing.exists() and not options["replace"]:
                raise CommandError(
                    f"{username} already has a TOTP device. To replace it (a lost phone), run "
                    "again with --replace; the old authenticator entry stops working."
                )
            existing.delete()
            device = TOTPDevice.objects.create(user=user, name=options["name"], confirmed=True)

        uri: str = device.config_url
        secret = b32encode(device.bin_key).decode()
        self.stdout.write(f"Enrolled {username} for the admin's second factor (TOTP).")
        self.stdout.write("Add this to an authenticator app (scan it, or paste the secret):")
        self.stdout.write(f"  URI:    {uri}")
        self.stdout.write(f"  Secret: {secret}")
        if options["qr"]:
            self.stdout.write(_qr(uri))
        self.stdout.write(
            "Then sign in at /admin/ with the password and the 6-digit code the app shows. "
            "The secret is not shown again."
        )


def _qr(data: str) -> str:
    import qrcode

    code = qrcode.QRCode(border=2)
    code.add_data(data)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()
