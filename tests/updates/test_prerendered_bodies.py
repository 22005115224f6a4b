"""Bodies put together from parts encoded once per snapshot are what JsonResponse would send.

PUC's metadata (`puc_body`) and EDD's get_version (`version_body`) are not encoded whole per
check: the fields that come from the product and its release are encoded once per snapshot,
the rest (versions, slug, package links, message) per check. Both the views and the lean path
use them, so the replay test cannot tell them apart from the document they stand for; here
each is compared with json.dumps of that document, for every kind of outcome, first and
again from the kept parts with different per-check values.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from apps.updates.api import edd, puc
from apps.updates.delivery.offers import CheckInput, CheckOutcome, check_many
from tests.builders import SITE, license_make, product_listed, release_make

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]

BASE = "https://updates.example.com"


def _encoded(document: dict[str, Any]) -> bytes:
    return json.dumps(document, cls=DjangoJSONEncoder).encode()


def _outcome(slug: str, key: str = "", **fields: Any) -> CheckOutcome:
    return check_many([CheckInput(slug=slug, key=key, site_url=SITE, **fields)], base_url=BASE)[0]


def _assert_same(outcome: CheckOutcome, slug_sent: str = "") -> None:
    assert outcome.product is not None
    assert edd.version_body(outcome, slug_sent) == _encoded(
        edd._version_document(outcome, slug_sent)
    )
    release = outcome.release or outcome.latest_stable
    if release is not None:
        assert puc.puc_body(outcome, release) == _encoded(puc.puc_document(outcome, release))


def test_each_kind_of_outcome_is_encoded_as_its_whole_document(settings):
    settings.DEPOT_UPDATE_RATE_LIMIT = 10**6
    # Text that JSON escapes: quotes, backslashes, non-ASCII, control characters, slashes.
    product = product_listed(
        "formwell", 'Formwell "Pro" \\ Ünïcode', description="<p>Tab\there\nnew line</p>"
    )
    release_make(product, "2.4.0", upgrade_notice="Ça va \u2028 mieux")
    release_make(product, "2.5.0", requires_wp="6.9")
    release_make(product, "2.6.0-beta1", channel="beta")
    key = license_make(product).key
    beta_only = product_listed("betaonly")
    release_make(beta_only, "0.1.0", channel="beta")

    outcomes = {
        "licensed": _outcome("formwell", key, wp_version="6.9"),
        "no key": _outcome("formwell", wp_version="6.9"),
        "unknown key": _outcome("formwell", "NOPE-NOPE", wp_version="6.9"),
        "below the minimum, own version": _outcome(
            "formwell", key, wp_version="6.1", installed_version="2.3.0"
        ),
        "below the minimum, no version": _outcome("formwell", key, wp_version="6.1"),
        "beta": _outcome("formwell", key, wp_version="6.9", beta=True),
        "no stable release": _outcome("betaonly", wp_version="6.9"),
    }
    for name, outcome in outcomes.items():
        for slug_sent in ("", "formwell", 'odd "slug"'):
            _assert_same(outcome, slug_sent)  # the first made the parts; these reuse them
        assert outcome.product is not None, name


def test_kept_parts_are_not_reused_for_another_release(settings):
    settings.DEPOT_UPDATE_RATE_LIMIT = 10**6
    product = product_listed()
    release_make(product, "2.4.0", changelog="<p>first</p>")
    key = license_make(product).key
    before = _outcome("formwell", key)
    _assert_same(before)

    release_make(product, "2.5.0", changelog="<p>second</p>")
    after = _outcome("formwell", key)

    _assert_same(after)
    assert b"second" in edd.version_body(after, "") and b"second" in puc.puc_body(
        after, after.release or {}
    )
