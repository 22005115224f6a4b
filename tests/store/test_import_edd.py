"""`manage.py import_edd`: an EDD Software Licensing store moves in with its keys working.

The exports are built by tests/fixtures/edd/generate.py from EDD's exporters (the committed
sample is the same generator's `--licenses 40 --rejects`); the statuses expected are EDD's own
rules (docs/api/compatibility.md), computed from the fixture, not from Depot.
"""

from __future__ import annotations

import csv
import time
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.licenses.keys import key_hash
from apps.licenses.models import Activation, License, Product
from apps.licenses.sites import site_normalise
from apps.store.models import PriceTier
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
from apps.updates.services import release_publish
from tests.fixtures.edd import generate
from tests.fixtures.edd.generate import Store

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "edd" / "sample"
ITEM_IDS = {name: download_id for download_id, _, name, _ in generate.DOWNLOADS}
ELSEWHERE = "https://not-activated-here.com/"


def _import(*paths: Path, **options: object) -> str:
    out = StringIO()
    call_command("import_edd", *[str(p) for p in paths], stdout=out, **options)
    return out.getvalue()


def _snapshot() -> dict[str, list[tuple[object, ...]]]:
    return {
        "products": list(Product.objects.order_by("pk").values_list()),
        "tiers": list(PriceTier.objects.order_by("pk").values_list()),
        "users": list(User.objects.order_by("pk").values_list()),
        "licenses": list(License.objects.order_by("pk").values_list()),
        "activations": list(Activation.objects.order_by("pk").values_list()),
    }


def _edd_status(lic: generate.License, url: str) -> str:
    """What EDD 3.6+'s check_license answers (compatibility.md, "Status … decided in order")."""
    now = datetime.now(tz=UTC).timestamp()
    if lic.expiration != "lifetime" and int(lic.expiration) < now:
        return "expired"
    if lic.status == "disabled":
        return "disabled"
    if not lic.sites:
        return "inactive"
    active = {site_normalise(s) for s in lic.sites}
    return "valid" if site_normalise(url) in active else "site_inactive"


def _edd_fields(lic: generate.License) -> dict[str, object]:
    expires = (
        "lifetime"
        if lic.expiration == "lifetime"
        else datetime.fromtimestamp(int(lic.expiration), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    )
    return {
        "license_limit": lic.limit,
        "site_count": lic.count,
        "activations_left": "unlimited" if lic.limit == 0 else max(0, lic.limit - lic.count),
        "expires": expires,
        "customer_name": lic.name,
        "customer_email": lic.email,
    }


def _imported(store: Store) -> list[generate.License]:
    rejected = set(store.rejects.values())
    return [lic for line, lic in enumerate(store.licenses, start=2) if line not in rejected]


def test_import_edd_brings_2000_licenses_with_their_keys(tmp_path: Path) -> None:
    # Given: an EDD store of 2,000 licenses, plus three rows EDD would export but we cannot take
    store = generate.build(2000, rejects=True)
    generate.write(store, tmp_path)

    # When
    started = time.monotonic()
    output = _import(tmp_path)
    elapsed = time.monotonic() - started
    print(f"\nimport_edd: 2,003 license rows imported in {elapsed:.2f} s")

    # Then: counts printed, and what they say is in the database
    imported = _imported(store)
    assert len(imported) == 2001
    activations = sum(
        len({site_normalise(s) for s in lic.sites if not s.startswith("ftp:")}) for lic in imported
    )
    assert "licenses: 500/2003 (24%)" in output
    assert "licenses: 2003/2003 (100%)" in output
    assert "products: 3 created, 0 already here" in output
    assert "tiers: 6 created, 0 already here" in output
    assert "customers: 1000 created, 0 already here" in output
    assert "licenses: 2001 created, 0 already here" in output
    assert f"activations: {activations} created" in output
    assert "rejected license rows: 2" in output
    assert "sites skipped: 1" in output
    assert Product.objects.filter(edd_item_id__in=ITEM_IDS.values()).count() == 3
    assert PriceTier.objects.count() == 6
    assert User.objects.count() == 1000
    assert License.objects.count() == 2001
    assert Activation.objects.count() == activations

    # And: every key is found by its hash, and no column holds the key itself
    for lic in imported[:50]:
        stored = License.objects.get(key_hash=key_hash(lic.key))
        assert stored.product.edd_item_id == ITEM_IDS[lic.product]
        for field in License._meta.concrete_fields:
            assert lic.key not in str(field.value_from_object(stored)).lower()


def test_import_edd_twice_changes_nothing() -> None:
    # Given
    _import(SAMPLE)
    before = _snapshot()

    # When
    output = _import(SAMPLE)

    # Then
    assert _snapshot() == before
    assert "products: 0 created, 3 already here" in output
    assert "tiers: 0 created, 6 already here" in output
    assert "customers: 0 created, 20 already here" in output
    assert "licenses: 0 created, 41 already here" in output
    assert "activations: 0 created" in output


def test_import_edd_reports_each_rejected_row_and_imports_the_rest() -> None:
    # Given
    store = generate.build(40, rejects=True)
    unknown_option = store.licenses[store.rejects["unknown price option"] - 2]
    assert store.bad_site_line is not None
    bad_site = store.licenses[store.bad_site_line - 2]

    # When
    output = _import(SAMPLE)

    # Then: one line per rejected row, naming the row and the reason, never the whole key
    name = "edd-export-licenses-01-31-2025.csv"
    assert (
        f"{name} line 42: rejected (key …{unknown_option.key[-4:]}): unknown price option 7 "
        "for Formwell (its options: 1, 2, 3)" in output
    )
    assert "line 43: rejected (key …" in output
    assert "duplicate key: the same key is on line 2" in output
    assert (
        f"{name} line 44: site skipped (key …{bad_site.key[-4:]}): 'ftp://files.example.com/' "
        "is not a site URL" in output
    )
    for lic in store.licenses:
        assert lic.key not in output

    # And: nothing of the rejected rows was written; the rest was
    assert not License.objects.filter(key_hash=key_hash(unknown_option.key)).exists()
    assert License.objects.count() == 41
    kept = License.objects.get(key_hash=key_hash(bad_site.key))
    assert list(kept.activations.values_list("site", flat=True)) == ["good-site.com"]


def test_import_edd_refuses_an_export_without_licenses(tmp_path: Path) -> None:
    # Given: only the downloads file
    generate.write(generate.build(5), tmp_path)
    downloads = next(tmp_path.glob("*downloads*"))

    # When / Then
    with pytest.raises(CommandError, match="No EDD licenses export"):
        _import(downloads)
    assert not Product.objects.exists()


def test_imported_keys_answer_check_license_as_edd_did(client, settings) -> None:
    # Given
    settings.DEPOT_LICENSE_RATE_LIMIT = 10_000
    store = generate.build(40, rejects=True)
    _import(SAMPLE)
    seen: set[str] = set()

    for lic in _imported(store)[:-1]:  # the last one lost a site the old store had
        urls = [f"https://{lic.sites[0]}"] if lic.sites else []
        for url in [*urls, ELSEWHERE]:
            # When: the shipped EDD updater checks, with the item id the old store knew
            body = client.post(
                "/updates/edd/",
                {
                    "edd_action": "check_license",
                    "license": lic.key.upper() if lic.id % 2 else lic.key,
                    "item_id": ITEM_IDS[lic.product],
                    "url": url,
                },
            ).json()

            # Then: EDD's status and fields for the same license
            expected = _edd_status(lic, url)
            assert body["license"] == expected, (lic, url)
            assert body["success"] is True
            assert {k: body[k] for k in _edd_fields(lic)} == _edd_fields(lic), lic
            seen.add(expected)
    assert seen == {"valid", "site_inactive", "inactive", "expired", "disabled"}


def test_imported_keys_get_updates_from_get_version_and_puc(client, settings) -> None:
    # Given: the import, then Formwell's first release on Depot
    settings.DEPOT_LICENSE_RATE_LIMIT = 10_000
    store = generate.build(40, rejects=True)
    _import(SAMPLE)
    product = Product.objects.get(edd_item_id=ITEM_IDS["Formwell"])
    spec = PluginSpec(slug=product.slug, name=product.name, version="3.0.0", description="x")
    release_publish(product=product, version="3.0.0", zip_content=plugin_zip_build(spec))
    formwell = [lic for lic in _imported(store) if lic.product == "Formwell"]
    valid = next(lic for lic in formwell if lic.status == "active")
    expired = next(lic for lic in formwell if lic.status == "expired")
    disabled = next(lic for lic in formwell if lic.status == "disabled")

    for lic, entitled in ((valid, True), (expired, False), (disabled, False)):
        site = f"https://{lic.sites[0]}"
        # When: EDD's updater asks for the version, from a site the export lists as activated
        version = client.post(
            "/updates/edd/",
            {
                "edd_action": "get_version",
                "license": lic.key,
                "item_id": ITEM_IDS["Formwell"],
                "url": site,
                "version": "2.0.0",
            },
        ).json()
        # And: Plugin Update Checker asks with only the key, its User-Agent naming the site
        puc = client.get(
            f"/updates/puc/{product.slug}/",
            {"license_key": lic.key, "installed_version": "2.0.0"},
            HTTP_USER_AGENT=f"WordPress/6.7.1; {site}",
        ).json()

        # Then: the package for a valid license, none and EDD's reason otherwise
        assert version["new_version"] == "3.0.0"
        assert puc["version"] == "3.0.0"
        if entitled:
            assert version["package"]
            assert puc["download_url"]
        else:
            status = _edd_status(lic, site)
            assert status in ("expired", "disabled")
            assert version["package"] == ""
            assert "download_url" not in puc
            assert status[:6] in version["msg"].lower()
            assert status[:6] in puc["upgrade_notice"].lower()


def test_a_rejected_row_does_not_claim_its_key_for_a_later_good_row(tmp_path: Path) -> None:
    # Given: an export whose first license row is repeated just before itself with a status
    # EDD does not have, so the first row with the key is rejected and the second is good
    generate.write(generate.build(5), tmp_path)
    licenses_csv = next(tmp_path.glob("*licenses*"))
    header, *rows = list(csv.reader(licenses_csv.open(newline="")))
    broken = dict(zip(header, rows[0], strict=True)) | {"License Status": "bogus"}
    with licenses_csv.open("w", newline="") as out:
        writer = csv.writer(out, quoting=csv.QUOTE_ALL)
        writer.writerows([header, [broken[column] for column in header], *rows])
    key = rows[0][header.index("License Key")]

    # When
    output = _import(tmp_path)

    # Then: line 2 is rejected for its status, and line 3 (the same key) is imported
    assert "line 2: rejected" in output
    assert "unknown status 'bogus'" in output
    assert "duplicate key" not in output
    assert License.objects.filter(key_hash=key_hash(key)).exists()
    assert License.objects.count() == 5
