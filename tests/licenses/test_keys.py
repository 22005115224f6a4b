"""License keys: their shape, how sloppy typing is forgiven, and how they are stored."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.licenses.keys import key_generate, key_hash, key_normalise
from apps.licenses.models import License, Product
from apps.licenses.selectors import license_by_key, license_key_reveal
from apps.licenses.services import license_create, product_upsert

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
KEY_SHAPE = re.compile(rf"[{CROCKFORD}]{{5}}(?:-[{CROCKFORD}]{{5}}){{5}}")
# A canonical key holding the digits people mistype as letters (0 → O, 1 → I or L).
CANONICAL = "10ABC-DEFGH-JKMNP-QRSTV-WXYZ0-12345"


def _product() -> Product:
    return product_upsert(slug="formwell", name="Formwell")


def _license(product: Product) -> tuple[License, str]:
    return license_create(
        product=product, email="buyer@example.com", activation_limit=1, expires_at=None
    )


def test_generated_keys_are_six_groups_of_five_crockford_symbols():
    # When
    keys = [key_generate() for _ in range(200)]

    # Then
    for key in keys:
        assert KEY_SHAPE.fullmatch(key), key


def test_generated_keys_are_distinct_and_use_the_whole_alphabet():
    # When
    keys = [key_generate() for _ in range(2000)]

    # Then
    assert len(set(keys)) == len(keys)
    symbols = set("".join(keys).replace("-", ""))
    assert symbols == set(CROCKFORD)


@pytest.mark.parametrize(
    "sloppy",
    [
        pytest.param(str.lower, id="lower-case"),
        pytest.param(lambda k: k.replace("-", " "), id="spaces-for-dashes"),
        pytest.param(lambda k: k.replace("-", ""), id="no-dashes"),
        pytest.param(lambda k: f"  {k.replace('-', ' - ')}\n", id="stray-whitespace"),
        pytest.param(lambda k: k.replace("0", "O"), id="capital-o-for-zero"),
        pytest.param(lambda k: k.replace("0", "o"), id="small-o-for-zero"),
        pytest.param(lambda k: k.replace("1", "I"), id="capital-i-for-one"),
        pytest.param(lambda k: k.replace("1", "l"), id="small-l-for-one"),
        pytest.param(
            lambda k: k.lower().replace("-", "").replace("0", "o").replace("1", "l"),
            id="all-at-once",
        ),
    ],
)
def test_key_normalise_forgives_how_people_type_keys(sloppy: Callable[[str], str]):
    # Given
    typed = sloppy(CANONICAL)
    assert typed != CANONICAL

    # When
    normalised = key_normalise(typed)

    # Then
    assert normalised == CANONICAL


def test_key_normalise_keeps_a_generated_key_unchanged():
    # Given
    key = key_generate()

    # When / Then
    assert key_normalise(key) == key


@pytest.mark.django_db
def test_license_create_stores_neither_the_key_nor_anything_containing_it():
    # Given
    product = _product()

    # When
    license, key = _license(product)

    # Then
    stored = License.objects.get(pk=license.pk)
    compact = key.replace("-", "")
    for field in License._meta.concrete_fields:
        value = str(field.value_from_object(stored))
        assert key not in value, field.name
        assert compact not in value, field.name
    assert stored.key_hash != key
    assert stored.key_hash == key_hash(key)
    assert key not in stored.key_encrypted


@pytest.mark.django_db
def test_license_key_reveal_returns_the_key_of_a_stored_license():
    # Given
    license, key = _license(_product())
    stored = License.objects.get(pk=license.pk)

    # When
    revealed = license_key_reveal(license=stored)

    # Then
    assert revealed == key


@pytest.mark.django_db
def test_license_by_key_finds_the_license_from_a_sloppily_typed_key():
    # Given
    product = _product()
    license, key = _license(product)
    other, other_key = _license(product)
    sloppy = key.lower().replace("-", " ").replace("0", "o").replace("1", "l")

    # When
    found = license_by_key(key=sloppy)
    found_other = license_by_key(key=other_key.replace("-", ""))

    # Then
    assert found is not None and found.pk == license.pk
    assert found_other is not None and found_other.pk == other.pk


@pytest.mark.django_db
def test_license_by_key_returns_none_for_a_key_that_was_never_issued():
    # Given
    _, key = _license(_product())
    wrong = key_generate()
    assert wrong != key

    # When
    found = license_by_key(key=wrong)

    # Then
    assert found is None


def test_key_hash_refuses_to_work_without_a_secret(settings):
    # Given
    settings.LICENSE_KEY_HMAC_SECRET = ""

    # When / Then
    with pytest.raises(ImproperlyConfigured):
        key_hash(key_generate())


@pytest.mark.django_db
def test_license_create_without_a_secret_writes_nothing(settings):
    # Given
    product = _product()
    settings.LICENSE_KEY_HMAC_SECRET = ""

    # When
    with pytest.raises(ImproperlyConfigured):
        _license(product)

    # Then
    assert not License.objects.exists()
