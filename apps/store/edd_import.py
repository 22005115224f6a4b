"""Import an Easy Digital Downloads Software Licensing store from EDD's own CSV exports.

Three files, each as EDD's batch exporter writes it (docs/import_edd.md, field by field):
the downloads export (ids, slugs, names, price options), the licenses export of Software
Licensing (keys, status, expiry, price option, limit, activated sites) and, optionally,
the customers export. Files are told apart by their header row, so their names do not matter.

Every license keeps its key, hashed and encrypted as Depot's own. Licenses are written in
batches, each batch in one transaction; a row that cannot be imported is reported and
skipped, the rest goes on. A license whose key is already here is left untouched, so the
import can run again.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, transaction
from django.utils.text import slugify

from apps.core.errors import DomainError
from apps.licenses import selectors as license_selectors
from apps.licenses import services as license_services
from apps.licenses.catalogue import Product
from apps.licenses.sites import site_is_staging, site_normalise
from apps.store import services as store_services
from apps.store.models import PriceTier

# The column labels EDD writes (English admin); these decide which export a file is.
LICENSE_COLUMNS = (
    "License ID",
    "License Key",
    "License Status",
    "Customer ID",
    "Customer Email",
    "Customer Name",
    "User ID",
    "Product Name",
    "Price ID",
    "Purchase Date",
    "Expiration Date",
    "Activation Limit",
    "Activation Count",
    "Activated URLs",
)
CUSTOMER_COLUMNS = (
    "ID",
    "User ID",
    "Name",
    "Email",
    "Number of Purchases",
    "Customer Value",
    "Payment IDs",
    "Date Created",
)
DOWNLOAD_COLUMNS = ("ID", "Slug", "Name", "Date Created", "Price")
EDD_STATUSES = {"active", "inactive", "expired", "disabled"}
SINGLE_PRICE_TIER = "Standard"
BATCH_SIZE = 500


class ExportError(Exception):
    """The export cannot be read at all (a missing file, an unknown header)."""


@dataclass(frozen=True)
class PriceOption:
    price_id: int
    name: str
    amount: int  # minor units


@dataclass(frozen=True)
class Download:
    line: int
    item_id: int
    slug: str
    name: str
    # Empty for a download without variable prices (one price, `amount`).
    options: tuple[PriceOption, ...]
    amount: int


@dataclass(frozen=True)
class LicenseRow:
    line: int
    key: str
    status: str
    email: str
    name: str
    product_name: str
    price_id: int | None
    created: datetime | None
    expires: datetime | None
    limit: int
    count: int
    urls: tuple[str, ...]
    expiry_error: str = ""


@dataclass
class Export:
    downloads: list[Download] = field(default_factory=list)
    licenses: list[LicenseRow] = field(default_factory=list)
    customers: dict[str, str] = field(default_factory=dict)  # e-mail (lower case) → name
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class Summary:
    created: Counter[str] = field(default_factory=Counter)
    existing: Counter[str] = field(default_factory=Counter)
    rejected_rows: int = 0
    skipped_sites: int = 0

    def lines(self) -> list[str]:
        out = []
        for what in ("products", "tiers", "customers", "licenses", "activations"):
            line = f"{what}: {self.created[what]} created"
            if what != "activations":
                line += f", {self.existing[what]} already here"
            out.append(line)
        out.append(f"rejected license rows: {self.rejected_rows}")
        out.append(f"sites skipped: {self.skipped_sites}")
        return out


# --- reading EDD's CSV ----------------------------------------------------------------------


def _rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    # EDD quotes every value, runs it through addslashes() and turns " into ', so a backslash
    # escapes the next character; "" is still read, for a file re-saved by a spreadsheet.
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""), escapechar="\\", doublequote=True)
    try:
        header = [label.strip() for label in next(reader)]
    except StopIteration:
        raise ExportError(f"{path.name} is empty.") from None

    def body() -> Iterator[tuple[int, list[str]]]:
        for row in reader:
            if any(cell.strip() for cell in row):
                yield reader.line_num, row

    return header, body()


def _kind(header: list[str]) -> str | None:
    labels = set(header)
    if {"License Key", "Product Name", "Activated URLs"} <= labels:
        return "licenses"
    if {"Email", "Number of Purchases"} <= labels:
        return "customers"
    if {"ID", "Slug", "Name", "Price"} <= labels:
        return "downloads"
    return None


def export_read(paths: Iterable[Path], *, timezone_name: str = "UTC") -> Export:
    """Read EDD's export files (or directories holding them) and tell them apart by header."""
    zone = ZoneInfo(timezone_name)
    export = Export()
    files = [p for path in paths for p in (sorted(path.glob("*.csv")) if path.is_dir() else [path])]
    for path in files:
        if not path.exists():
            raise ExportError(f"{path} does not exist.")
        header, body = _rows(path)
        kind = _kind(header)
        if kind is None:
            raise ExportError(
                f"{path.name} is not an EDD downloads, licenses or customers export "
                f"(its columns: {', '.join(header[:6])}…)."
            )
        if kind in export.files:
            raise ExportError(f"{path.name} and {export.files[kind].name} are both {kind}.")
        export.files[kind] = path
        for line, row in body:
            record = dict(zip(header, (cell.strip() for cell in row), strict=False))
            if kind == "downloads":
                export.downloads.append(_download(line, record))
            elif kind == "customers":
                email = record.get("Email", "")
                if email:
                    export.customers[email.lower()] = _name(record.get("Name", ""))
            else:
                export.licenses.append(_license_row(line, record, zone))
    for needed in ("downloads", "licenses"):
        if needed not in export.files:
            raise ExportError(f"No EDD {needed} export among the files given.")
    return export


def _name(text: str) -> str:
    # EDD prefixes a ' to names starting with + - = @, against formulas in spreadsheets.
    return text[1:] if text[:1] == "'" and text[1:2] in ("+", "-", "=", "@") else text


def _amount(text: str) -> int:
    try:
        return int((Decimal(text.replace(",", "") or "0") * 100).to_integral_value())
    except InvalidOperation:
        return 0


def _download(line: int, record: dict[str, str]) -> Download:
    price = record.get("Price", "")
    options: list[PriceOption] = []
    if " | " in price or ": " in price:
        # edd_get_variable_prices() in its order, "name: amount" joined by " | ". EDD numbers
        # price options from 1 in that order (the export does not write the ids).
        for number, part in enumerate(price.split(" | "), start=1):
            name, _, amount = part.rpartition(": ")
            options.append(PriceOption(number, name.strip() or f"Option {number}", _amount(amount)))
    raw_id = record.get("ID", "")
    name = record.get("Name", "")
    return Download(
        line=line,
        item_id=int(raw_id) if raw_id.isdigit() else 0,
        slug=slugify(record.get("Slug", "")) or slugify(name),
        name=name,
        options=tuple(options),
        amount=0 if options else _amount(price),
    )


def _local_time(text: str, zone: ZoneInfo) -> datetime | None:
    """EDD's times are the site's wall clock: current_time('timestamp'|'mysql')."""
    if not text or text in ("0", "lifetime"):
        return None
    if text.isdigit():
        wall = datetime.fromtimestamp(int(text), tz=UTC).replace(tzinfo=None)
    else:
        try:
            wall = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise ValueError(f"'{text}' is not a date EDD writes") from None
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _license_row(line: int, record: dict[str, str], zone: ZoneInfo) -> LicenseRow:
    def number(label: str) -> int:
        text = record.get(label, "")
        return int(text) if text.isdigit() else 0

    raw_price = record.get("Price ID", "")
    created: datetime | None
    try:
        created = _local_time(record.get("Purchase Date", ""), zone)
    except ValueError:
        created = None
    expires: datetime | None = None
    expiry_error = ""
    try:
        expires = _local_time(record.get("Expiration Date", ""), zone)
    except ValueError as exc:
        expiry_error = f"expiration date {exc}"
    urls = tuple(u.strip() for u in record.get("Activated URLs", "").split(",") if u.strip())
    return LicenseRow(
        line=line,
        key=record.get("License Key", ""),
        status=record.get("License Status", "").lower(),
        email=record.get("Customer Email", ""),
        name=_name(record.get("Customer Name", "")),
        product_name=record.get("Product Name", ""),
        price_id=int(raw_price) if raw_price.isdigit() else None,
        created=created,
        expires=expires,
        limit=number("Activation Limit"),
        count=number("Activation Count"),
        urls=urls,
        expiry_error=expiry_error,
    )


# --- writing --------------------------------------------------------------------------------


class Rejected(Exception):
    """A license row that is not imported; the message says why."""


@dataclass
class _Catalogue:
    products: dict[int, Product]  # EDD item id → product
    by_name: dict[str, list[Download]]
    tiers: dict[tuple[int, int | None], PriceTier]  # (EDD item id, EDD price id) → tier


def edd_import(
    export: Export,
    *,
    out: Callable[[str], None],
    batch_size: int = BATCH_SIZE,
) -> Summary:
    """Create products, tiers, customers, licenses and activations from a read export."""
    summary = Summary()
    catalogue = _catalogue(export, summary, out)
    users = _customers(export, summary, batch_size)
    seen: dict[str, int] = {}
    total = len(export.licenses)
    done = 0
    name = export.files["licenses"].name
    for start in range(0, total, batch_size):
        batch = export.licenses[start : start + batch_size]
        with transaction.atomic():
            for row in batch:
                try:
                    # A savepoint per row: a database error on one row (a constraint the
                    # checks above missed) rejects that row, not the rest of the batch.
                    with transaction.atomic():
                        _license_write(row, catalogue, users, seen, summary, out, name)
                except (Rejected, DomainError, DatabaseError) as refused:
                    summary.rejected_rows += 1
                    reason = refused.message if isinstance(refused, DomainError) else refused
                    out(f"{name} line {row.line}: rejected ({_hint(row.key)}): {reason}")
        done += len(batch)
        out(f"licenses: {done}/{total} ({done * 100 // max(total, 1)}%)")
    return summary


def _hint(key: str) -> str:
    # The whole key would put a working credential into logs and terminals.
    return f"key …{key.strip()[-4:]}" if key.strip() else "no key"


def _catalogue(export: Export, summary: Summary, out: Callable[[str], None]) -> _Catalogue:
    by_name: dict[str, list[Download]] = {}
    for download in export.downloads:
        by_name.setdefault(download.name, []).append(download)
    usage = _tier_usage(export.licenses)
    products: dict[int, Product] = {}
    tiers: dict[tuple[int, int | None], PriceTier] = {}
    name = export.files["downloads"].name
    with transaction.atomic():
        for download in export.downloads:
            if not download.item_id or not download.slug:
                out(f"{name} line {download.line}: skipped: no download id or slug")
                continue
            try:
                product, created = license_services.product_import(
                    edd_item_id=download.item_id, slug=download.slug, name=download.name
                )
            except DomainError as refused:
                out(f"{name} line {download.line}: skipped: {refused.message}")
                continue
            summary.created["products"] += created
            summary.existing["products"] += not created
            products[download.item_id] = product
            options = download.options or (PriceOption(0, SINGLE_PRICE_TIER, download.amount),)
            used_names: set[str] = set()
            for position, option in enumerate(options):
                price_id = option.price_id or None
                limits, lifetimes = usage.get((download.name, price_id), (Counter(), Counter()))
                tier_name = option.name[:100]
                if tier_name in used_names:
                    tier_name = f"{option.name[:80]} (price option {option.price_id})"
                used_names.add(tier_name)
                tier, created = store_services.tier_import(
                    product=product,
                    name=tier_name,
                    # EDD keeps a price option's limit and term in settings no export has:
                    # what most of its licenses say, else one site for a year.
                    sites_allowed=limits.most_common(1)[0][0] if limits else 1,
                    term=(
                        PriceTier.Term.LIFETIME
                        if lifetimes[True] > lifetimes[False]
                        else PriceTier.Term.YEAR
                    ),
                    amount=option.amount,
                    position=position,
                )
                summary.created["tiers"] += created
                summary.existing["tiers"] += not created
                tiers[(download.item_id, price_id)] = tier
    return _Catalogue(products=products, by_name=by_name, tiers=tiers)


def _tier_usage(
    rows: list[LicenseRow],
) -> dict[tuple[str, int | None], tuple[Counter[int], Counter[bool]]]:
    usage: dict[tuple[str, int | None], tuple[Counter[int], Counter[bool]]] = {}
    for row in rows:
        limits, lifetimes = usage.setdefault(
            (row.product_name, row.price_id or None), (Counter(), Counter())
        )
        limits[row.limit] += 1
        lifetimes[row.expires is None] += 1
    return usage


def _customers(export: Export, summary: Summary, batch_size: int) -> dict[str, User]:
    names = dict(export.customers)
    for row in export.licenses:
        names.setdefault(row.email.lower(), row.name)
    emails = [email for email in names if _email_ok(email)]
    users: dict[str, User] = {}
    for start in range(0, len(emails), batch_size):
        with transaction.atomic():
            batch = {email: names[email] for email in emails[start : start + batch_size]}
            found, created = store_services.customers_import(names=batch)
        users.update(found)
        summary.created["customers"] += created
        summary.existing["customers"] += len(found) - created
    return users


def _email_ok(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


def _license_write(
    row: LicenseRow,
    catalogue: _Catalogue,
    users: dict[str, User],
    seen: dict[str, int],
    summary: Summary,
    out: Callable[[str], None],
    file_name: str,
) -> None:
    if not row.key:
        raise Rejected("no license key")
    refusal = license_selectors.license_key_foreign_refusal(row.key)
    if refusal is not None:
        raise Rejected(refusal)
    digest = license_selectors.license_key_digest(row.key)
    if digest in seen:
        raise Rejected(f"duplicate key: the same key is on line {seen[digest]}")
    if row.expiry_error:
        raise Rejected(row.expiry_error)
    status = row.status
    if status not in EDD_STATUSES:
        raise Rejected(f"unknown status '{status}' (EDD's are {', '.join(sorted(EDD_STATUSES))})")
    if not _email_ok(row.email):
        raise Rejected(f"customer e-mail '{row.email}' is not an e-mail address")
    download = _download_named(row.product_name, catalogue)
    product = catalogue.products.get(download.item_id)
    if product is None:
        raise Rejected(f"product '{row.product_name}' was not imported")
    tier = catalogue.tiers.get((download.item_id, row.price_id or None))
    if row.price_id and tier is None:
        known = ", ".join(str(o.price_id) for o in download.options) or "none"
        raise Rejected(
            f"unknown price option {row.price_id} for {download.name} (its options: {known})"
        )
    sites = _sites(row, out, file_name, summary)
    expires = row.expires
    if status == "expired" and expires is None:
        # EDD keeps answering "expired" for a lifetime license marked expired.
        expires = row.created or datetime.now(tz=UTC)
    _, created = license_services.license_import(
        key=row.key,
        product=product,
        email=row.email,
        customer=users.get(row.email.lower()),
        # License.Status values: EDD's "disabled" stays disabled, every other status is active.
        status="disabled" if status == "disabled" else "active",
        activation_limit=row.limit,
        expires_at=expires,
        price_id=tier.pk if tier is not None and row.price_id else None,
        sites=sites,
    )
    # Only a row that was imported claims its key: a later good row with the key of a
    # rejected one is imported, not reported as that row's duplicate.
    seen[digest] = row.line
    summary.created["licenses"] += created
    summary.existing["licenses"] += not created
    if created:
        summary.created["activations"] += len({site_normalise(url) for url, _ in sites})


def _download_named(name: str, catalogue: _Catalogue) -> Download:
    matches = catalogue.by_name.get(name, [])
    if not matches:
        raise Rejected(f"unknown product '{name}': no download of that name in the export")
    if len(matches) > 1:
        ids = ", ".join(str(d.item_id) for d in matches)
        raise Rejected(f"product name '{name}' is shared by downloads {ids}")
    return matches[0]


def _sites(
    row: LicenseRow, out: Callable[[str], None], file_name: str, summary: Summary
) -> list[tuple[str, bool]]:
    good: list[tuple[str, str]] = []
    for url in row.urls:
        try:
            good.append((url, site_normalise(url)))
        except ValueError as exc:
            summary.skipped_sites += 1
            out(f"{file_name} line {row.line}: site skipped ({_hint(row.key)}): {exc}")
    # EDD's Activation Count leaves local sites out when the store bypasses local hosts:
    # then they are free staging copies here too; otherwise every site takes a slot.
    local_free = row.count != len(row.urls)
    return [(url, local_free and site_is_staging(site)) for url, site in good]
