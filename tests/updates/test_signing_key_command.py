"""manage.py signing_key: a new seed for DEPOT_SIGNING_KEY, and the public key to trust."""

from __future__ import annotations

import base64
import hashlib
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.updates.publishing.signing import package_signature, signing_key_from_base64
from tests.updates.wordpress_side import signature_verify


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("signing_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_generate_prints_a_new_32_byte_seed_the_settings_accept():
    first, note = _run("--generate")
    second, _ = _run("--generate")

    seed = first.strip()
    assert len(base64.b64decode(seed, validate=True)) == 32
    assert signing_key_from_base64(seed) is not None
    assert seed != second.strip()
    assert "DEPOT_SIGNING_KEY" in note
    assert seed not in note  # only stdout carries the secret, for piping


def test_public_prints_the_key_that_verifies_served_signatures():
    public = _run("--public")[0].strip()

    digest = hashlib.sha384(b"a plugin zip").digest()
    signature = package_signature(signing_key_from_base64(settings.DEPOT_SIGNING_KEY), digest)
    assert len(base64.b64decode(public, validate=True)) == 32
    assert signature_verify(public, digest, signature)


def test_public_of_a_generated_seed_matches_that_seed(settings):
    settings.DEPOT_SIGNING_KEY = _run("--generate")[0].strip()
    public = _run("--public")[0].strip()

    digest = hashlib.sha384(b"another zip").digest()
    signature = package_signature(signing_key_from_base64(settings.DEPOT_SIGNING_KEY), digest)
    assert signature_verify(public, digest, signature)


def test_public_without_a_configured_key_says_how_to_make_one(settings):
    settings.DEPOT_SIGNING_KEY = ""

    with pytest.raises(CommandError, match="signing_key --generate"):
        _run("--public")


def test_public_with_a_broken_key_says_what_is_wrong(settings):
    settings.DEPOT_SIGNING_KEY = base64.b64encode(b"too short").decode()

    with pytest.raises(CommandError, match="32-byte seed"):
        _run("--public")


def test_one_of_generate_or_public_is_required():
    with pytest.raises(CommandError):
        _run()
    with pytest.raises(CommandError):
        _run("--generate", "--public")
