"""TOTP two-factor sign-in for staff in the admin, and the command that enrols them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from base64 import b32encode
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.core.test_roles import PRODUCTION_ENV

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def require_2fa(settings):
    settings.DEPOT_ADMIN_REQUIRE_2FA = True
    return settings


@pytest.fixture
def boss() -> User:
    return User.objects.create_user("boss", password=PASSWORD, is_staff=True, is_superuser=True)


def _code(device: TOTPDevice) -> str:
    """The code the staff user's authenticator app shows now."""
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return str(value).zfill(device.digits)


def _admin_login(client: Client, **extra: str):
    return client.post("/admin/login/", {"username": "boss", "password": PASSWORD, **extra})


def _in_admin(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def _enrol(*args: str) -> str:
    out = io.StringIO()
    call_command("staff_totp_enrol", *args, stdout=out)
    return out.getvalue()


# Signing in to the admin


def test_with_2fa_required_a_password_alone_does_not_open_the_admin(require_2fa, boss):
    # Given
    TOTPDevice.objects.create(user=boss, name="phone", confirmed=True)
    client = Client()

    # When
    response = _admin_login(client)

    # Then
    assert response.status_code == 200
    assert "OTP Token" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not _in_admin(client)


def test_with_2fa_required_the_password_and_a_valid_code_open_the_admin(require_2fa, boss):
    # Given
    device = TOTPDevice.objects.create(user=boss, name="phone", confirmed=True)
    client = Client()

    # When
    response = _admin_login(client, otp_token=_code(device))

    # Then
    assert response.status_code == 302
    assert _in_admin(client)


def test_with_2fa_required_a_wrong_code_is_refused(require_2fa, boss):
    # Given
    device = TOTPDevice.objects.create(user=boss, name="phone", confirmed=True)
    wrong = str((int(_code(device)) + 1) % 10**6).zfill(6)
    client = Client()

    # When
    response = _admin_login(client, otp_token=wrong)

    # Then
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert not _in_admin(client)


def test_with_2fa_required_staff_signed_in_through_the_store_must_still_give_a_code(
    require_2fa, boss
):
    # Given: the store's sign-in takes a password only
    TOTPDevice.objects.create(user=boss, name="phone", confirmed=True)
    client = Client()
    assert (
        client.post("/account/login/", {"username": "boss", "password": PASSWORD}).status_code
        == 302
    )

    # When
    response = client.get("/admin/")

    # Then
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_with_2fa_required_staff_without_a_device_cannot_open_the_admin(require_2fa, boss):
    client = Client()

    _admin_login(client, otp_token="123456")

    assert not _in_admin(client)


def test_without_2fa_required_a_password_opens_the_admin_as_under_make_run(settings, boss):
    # Given: local and test settings (make run, seed_demo's printed admin password)
    assert settings.DEPOT_ADMIN_REQUIRE_2FA is False
    client = Client()

    # When
    response = _admin_login(client)

    # Then
    assert response.status_code == 302
    assert _in_admin(client)


def test_production_settings_require_2fa_and_local_settings_do_not():
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.DEPOT_ADMIN_REQUIRE_2FA))"
    )
    seen = {}
    for module in ("config.settings.production", "config.settings.local"):
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "AWS_", "DEPOT_"))
        }
        env.update(PRODUCTION_ENV, DJANGO_SETTINGS_MODULE=module)
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        seen[module] = json.loads(result.stdout.strip().splitlines()[-1])

    assert seen == {"config.settings.production": True, "config.settings.local": False}


# Enrolling staff


def test_the_enrol_command_makes_a_confirmed_device_whose_codes_open_the_admin(require_2fa, boss):
    # When
    output = _enrol("boss")

    # Then
    device = TOTPDevice.objects.get(user=boss)
    assert device.confirmed
    secret = b32encode(device.bin_key).decode()
    assert secret in output
    assert f"otpauth://totp/Depot%3Aboss?secret={secret}" in output
    client = Client()
    assert _admin_login(client, otp_token=_code(device)).status_code == 302
    assert _in_admin(client)


def test_the_enrol_command_draws_a_qr_code_on_request(boss):
    output = _enrol("boss", "--qr")

    assert "otpauth://totp/" in output
    assert "█" in output


@pytest.mark.parametrize("username", ["nobody", "customer"])
def test_the_enrol_command_refuses_anyone_but_active_staff_and_writes_nothing(username):
    User.objects.create_user("customer", password=PASSWORD)

    with pytest.raises(CommandError, match="No active staff user"):
        _enrol(username)

    assert not TOTPDevice.objects.exists()


def test_the_enrol_command_replaces_a_device_only_when_asked(boss):
    # Given
    _enrol("boss")
    first = TOTPDevice.objects.get(user=boss)

    # When / Then: a second run without --replace changes nothing
    with pytest.raises(CommandError, match="--replace"):
        _enrol("boss")
    assert list(TOTPDevice.objects.filter(user=boss)) == [first]

    # When: a lost phone
    _enrol("boss", "--replace")

    # Then: one device, with a new key
    (device,) = TOTPDevice.objects.filter(user=boss)
    assert device.pk != first.pk and device.key != first.key
