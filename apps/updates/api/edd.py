"""EDD Software Licensing's `edd_action` API, for plugins that ship EDD's updater.

Served on /updates/edd/ and on the updates host's root. Everything EDD's clients rely on
is kept (docs/api/compatibility.md): parameter names and where they are read from, status
and error strings, field names and types, HTTP 200 with the outcome in the body, the
PHP-serialized `sections`, `banners` and `icons`, and `checksum`. Where EDD would hand out
a package link that fails at download time (expired, inactive), Depot sends an empty
`package` and says why in `msg`, which EDD's updater shows as an update it cannot install.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from apps.core.errors import json_error
from apps.licenses.catalogue import Product
from apps.licenses.selectors import (
    LicenseState,
    license_state_check,
    product_for_edd,
)
from apps.updates import metrics
from apps.updates.api import index
from apps.updates.api.common import (
    Caller,
    allow,
    database_guard,
    flag,
    rate_limit,
    site_url_of,
    too_many_checks,
    update_quota,
    wp_version_of,
)
from apps.updates.delivery import hotcache, licensing
from apps.updates.delivery.offers import (
    CheckInput,
    CheckOutcome,
    check_many,
    license_lookup,
    product_directory,
)
from apps.updates.delivery.php import php_serialize
from apps.updates.delivery.rendered import ByIdentity

ACTIONS = ("activate_license", "deactivate_license", "check_license", "get_version")
# A bigger `products[]` batch is answered with one error and not looked at (docs/api).
MAX_PRODUCTS = 100
_PRODUCT_PARAM = re.compile(r"^products\[([^\[\]]{0,100})\]\[([a-z_]{1,30})\]$")
UNAVAILABLE = "The license server is temporarily unavailable. Please try again in a few minutes."


# --- request parsing ----------------------------------------------------------------------


def _params(request: HttpRequest) -> QueryDict:
    """EDD reads everything from the query string when edd_action is there, else the body."""
    return request.GET if "edd_action" in request.GET else request.POST


def _text(params: Any, name: str) -> str:
    value = params.get(name, "")
    return value.strip()[:2000] if isinstance(value, str) else ""


def _item_id(params: Any) -> int | None:
    raw = _text(params, "item_id")
    return int(raw) if raw.isascii() and raw.isdigit() and int(raw) > 0 and len(raw) < 10 else None


def _item_name(params: Any) -> str:
    name = _text(params, "item_name") or _text(params, "name")
    # Shipped clients rawurlencode() the name inside a form body; EDD decodes it again.
    name = unquote(name)
    return "" if name == "0" else name


def _product(params: Any) -> Product | None:
    return product_for_edd(item_id=_item_id(params), item_name=_item_name(params))


# --- response fields ----------------------------------------------------------------------


def _php_json(value: Any) -> str:
    # PHP's json_encode: ASCII with \uXXXX escapes and escaped slashes.
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/")


def _strlen(value: Any) -> int:
    if value is False or value is None:
        return 0
    return len(str(value).encode())


def edd_checksum(values: list[Any]) -> str:
    """EDD's checksum: md5 of the JSON of the request values, longest first (stable sort)."""
    ordered = sorted(values, key=_strlen, reverse=True)
    return hashlib.md5(_php_json(ordered).encode(), usedforsecurity=False).hexdigest()


def _expires(state: LicenseState) -> str:
    return state.expires_at.strftime("%Y-%m-%d %H:%M:%S") if state.expires_at else "lifetime"


def _license_fields(state: LicenseState) -> dict[str, Any]:
    left = state.activations_left
    return {
        "license_limit": state.activation_limit,
        "site_count": state.site_count,
        "expires": _expires(state),
        "activations_left": "unlimited" if left is None else left,
        "payment_id": 0,
        "customer_name": state.customer_name,
        "customer_email": state.customer_email,
        "price_id": state.price_id if state.price_id is not None else False,
    }


def _identity(params: Any, product_name: str) -> dict[str, Any]:
    """EDD's item_id and item_name echoed back: as sent, else the product's own name."""
    item_id = _item_id(params)
    return {
        "item_id": item_id if item_id is not None else False,
        "item_name": _item_name(params) or product_name,
    }


# --- license actions ----------------------------------------------------------------------


@dataclass(frozen=True)
class _LicenseAsk:
    """What activate, deactivate and check_license all read: the key, site and product."""

    key: str
    url: str
    environment: str
    item_id: int | None
    item_name: str
    product: Product | None
    site_url: str | None
    identity: dict[str, Any]
    # EDD names the identifier that did not match: item_id if sent, else item_name.
    mismatch_code: str


def _license_ask(
    caller: Caller, params: Any, action: str, *, fail_open: bool
) -> _LicenseAsk | HttpResponse:
    """Apply the license actions' rate limit (429 or 503), then read the request's fields."""
    limited = rate_limit(caller, action, fail_open=fail_open)
    if limited is not None:
        return limited
    url = _text(params, "url")
    item_id = _item_id(params)
    product = _product(params)
    return _LicenseAsk(
        key=_text(params, "license"),
        url=url,
        environment=_text(params, "environment") or "production",
        item_id=item_id,
        item_name=_item_name(params),
        product=product,
        site_url=site_url_of(caller, url),
        identity=_identity(params, product.name if product else ""),
        mismatch_code="invalid_item_id" if item_id else "item_name_mismatch",
    )


def _activate(caller: Caller, params: Any) -> HttpResponse:
    ask = _license_ask(caller, params, "activate", fail_open=False)
    if isinstance(ask, HttpResponse):
        return ask
    checksum = edd_checksum(
        [ask.item_name or False, ask.key, ask.url, ask.item_id or False, ask.environment]
    )
    result = licensing.license_activation(
        key=ask.key,
        product=ask.product,
        product_given=True,
        mismatch_code=ask.mismatch_code,
        site_url=ask.site_url,
        environment=ask.environment[:20],
    )
    body: dict[str, Any] = {"success": result.ok, "license": "valid" if result.ok else "invalid"}
    body.update(ask.identity)
    if not result.ok:
        body["error"] = result.code
        if result.code == "no_activations_left" and result.state is not None:
            body["max_sites"] = result.state.activation_limit
    if result.state is not None:
        body.update(_license_fields(result.state))
        if result.ok and result.site in result.state.staging_sites:
            body["is_local"] = True
    body["checksum"] = checksum
    if not result.ok:
        body["msg"] = result.message
    return JsonResponse(body)


def _deactivate(caller: Caller, params: Any) -> HttpResponse:
    ask = _license_ask(caller, params, "deactivate", fail_open=False)
    if isinstance(ask, HttpResponse):
        return ask
    checksum = edd_checksum(
        [ask.item_id or False, ask.item_name or False, ask.key, ask.url, ask.environment]
    )
    result = licensing.license_deactivation(
        key=ask.key,
        product=ask.product,
        product_given=True,
        mismatch_code=ask.mismatch_code,
        site_url=ask.site_url,
    )
    body: dict[str, Any] = {
        "success": result.ok,
        "license": "deactivated" if result.ok else "failed",
    }
    body.update(ask.identity)
    body["checksum"] = checksum
    if result.state is not None and result.code != "missing":
        state = result.state
        # EDD's one quirk here: expires as a Unix timestamp, not a formatted date.
        body["expires"] = int(state.expires_at.timestamp()) if state.expires_at else "lifetime"
        body["payment_id"] = 0
        body["customer_name"] = state.customer_name
        body["customer_email"] = state.customer_email
        body["price_id"] = state.price_id if state.price_id is not None else False
    if not result.ok:
        body["msg"] = result.message
    return JsonResponse(body)


def _check(caller: Caller, params: Any) -> HttpResponse:
    """check_license, answered from the hot cache as update checks are (no query when warm)."""
    limited = rate_limit(caller, "check", fail_open=True)
    if limited is not None:
        return limited
    key, url, item_id, item_name = (
        _text(params, "license"),
        _text(params, "url"),
        _item_id(params),
        _item_name(params),
    )
    polled = hotcache.store().poll()  # once: both reads below see the same changes
    slug = product_directory(polled=polled).slug_for_edd(item_id=item_id, item_name=item_name)
    state, product = license_lookup(key=key, slug=slug, polled=polled)
    identity = _identity(params, product["name"] if product else "")
    mismatch_code = "invalid_item_id" if item_id else "item_name_mismatch"
    checksum = edd_checksum([item_id or False, item_name or False, key, url])
    if state is None:
        status, message = "invalid", "This license key is not valid. Check it in your account."
    elif product is None:
        status, message = mismatch_code, licensing.PRODUCT_NOT_SOLD
    else:
        check = license_state_check(
            state,
            product_id=product["id"],
            product_name=product["name"],
            site_url=site_url_of(caller, url) or "",
        )
        status, message = check.status, check.message
        if status == "item_name_mismatch":
            status = mismatch_code
    metrics.license_actions.labels("check", status).inc()
    body: dict[str, Any] = {"success": status != "invalid", "license": status, **identity}
    body["checksum"] = checksum
    if state is not None and status != "invalid":
        body.update(_license_fields(state))
    body["msg"] = message
    return JsonResponse(body)


# --- get_version --------------------------------------------------------------------------

_ERROR_SHAPE = {
    "new_version": "",
    "stable_version": "",
    "sections": "",
    "license_check": "",
    "homepage": "",
    "package": "",
    "icons": [],
    "banners": [],
}


def _version_error(message: str) -> dict[str, Any]:
    # EDD's updater needs `sections` to be present to accept an answer at all.
    return {**_ERROR_SHAPE, "msg": message}


def _input(caller: Caller, params: Any, slug: str) -> CheckInput:
    return CheckInput(
        slug=slug,
        key=_text(params, "license")[:200],
        site_url=site_url_of(caller, _text(params, "url")),
        installed_version=_text(params, "version")[:50],
        wp_version=_text(params, "wp_version")[:30] or wp_version_of(caller),
        php_version=_text(params, "php_version")[:30],
        beta=flag(params.get("beta", "")),
    )


def _versions(
    caller: Caller, entries: dict[str, Any]
) -> dict[str, tuple[CheckOutcome, str] | dict[str, Any]]:
    """Answer get_version for each entry, as one check; raises hotcache.RateLimited.

    Each answer is (the outcome, the slug sent) for a plugin of ours, else the error document.

    A plugin is found by its folder (`slug`), else by EDD's own identifiers (item_id,
    item_name) as EDD does, all in the cached product directory: naming plugins that are
    not ours costs no query.
    """
    polled = hotcache.store().poll()  # once: both reads below see the same changes
    directory = product_directory(polled=polled)
    found: dict[str, str] = {}
    for name, params in entries.items():
        slug = directory.slug(_text(params, "slug")[:100]) or directory.slug_for_edd(
            item_id=_item_id(params), item_name=_item_name(params)
        )
        if slug is not None:
            found[name] = slug
    inputs = [_input(caller, entries[name], slug) for name, slug in found.items()]
    outcomes = check_many(
        inputs, base_url=caller.base_url, quota=update_quota(caller), polled=polled
    )
    answers: dict[str, tuple[CheckOutcome, str] | dict[str, Any]] = {}
    for name, outcome in zip(found, outcomes, strict=True):
        if outcome.product is not None:
            answers[name] = (outcome, _text(entries[name], "slug"))
            metrics.update_check("edd", "licensed" if outcome.package else "unlicensed").inc()
    for name, params in entries.items():
        if name not in answers:
            metrics.update_check("edd", "unknown_product").inc()
            named = _text(params, "slug") or _item_id(params) or _item_name(params)
            answers[name] = _version_error(
                "This server does not sell that plugin." if named else "No item provided"
            )
    return answers


# The PHP-serialized fields of a product and release, made once per snapshot.
_serialized = ByIdentity()


def _php_fields(product: dict[str, Any], shown: dict[str, Any]) -> tuple[str, str, str]:
    icons = {k: v for k, v in (("1x", product["icons"]["1x"]), ("2x", product["icons"]["2x"])) if v}
    return (
        php_serialize(
            {
                "description": shown.get("description") or product["description"],
                "installation": shown.get("installation", ""),
                "changelog": shown.get("changelog", ""),
            }
        ),
        php_serialize({"high": product["banners"]["high"], "low": product["banners"]["low"]}),
        php_serialize(icons),
    )


# What a product with no stable release shows (never changed: its identity keys caches).
_NOTHING_SHOWN: dict[str, Any] = {}


def _shown(outcome: CheckOutcome) -> tuple[str, dict[str, Any]]:
    """The version a site is told and the release whose fields are shown."""
    release, stable = outcome.release, outcome.latest_stable
    if release is None:
        # EDD 3.8: a site below a release's minimums is told its own version.
        version = outcome.input.installed_version or (stable["version"] if stable else "")
        return version, stable or _NOTHING_SHOWN
    return release["version"], release


def _version_document(outcome: CheckOutcome, slug_sent: str) -> dict[str, Any]:
    product = outcome.product
    assert product is not None
    stable = outcome.latest_stable
    version, shown = _shown(outcome)
    sections, banners, icons = _serialized.get(
        (product, shown), (), lambda: _php_fields(product, shown)
    )
    document: dict[str, Any] = {
        "new_version": version,
        "stable_version": stable["version"] if stable else version,
        "name": product["name"],
        "slug": slug_sent or product["slug"],
        "url": product["homepage"],
        "last_updated": shown.get("published_at", ""),
        "homepage": product["homepage"],
        "package": outcome.package or "",
        "download_link": outcome.package or "",
        "sections": sections,
        "banners": banners,
        "icons": icons,
        "requires": shown.get("requires_wp", ""),
        "tested": shown.get("tested", ""),
        "requires_php": shown.get("requires_php", ""),
        "upgrade_notice": shown.get("upgrade_notice", ""),
    }
    if not outcome.package:
        document["msg"] = outcome.notice or outcome.license.message
    return document


# The document's fields that come from the product and the release shown alone.
_SNAPSHOT_FIELDS = (
    "name",
    "url",
    "last_updated",
    "homepage",
    "sections",
    "banners",
    "icons",
    "requires",
    "tested",
    "requires_php",
    "upgrade_notice",
)
_encoded = ByIdentity()


def _json(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder)


def version_body(outcome: CheckOutcome, slug_sent: str) -> bytes:
    """Return JsonResponse's body for `_version_document`: the fields that come from the
    product and release are encoded once per snapshot, the rest (versions, slug, package
    links, message) per check."""
    document = _version_document(outcome, slug_sent)
    encoded = _encoded.get(
        (outcome.product, _shown(outcome)[1]),
        (),
        lambda: {name: _json(document[name]) for name in _SNAPSHOT_FIELDS},
    )
    fields = (f"{_json(name)}: {encoded.get(name) or _json(v)}" for name, v in document.items())
    return ("{" + ", ".join(fields) + "}").encode()


def _document(answer: tuple[CheckOutcome, str] | dict[str, Any]) -> dict[str, Any]:
    return answer if isinstance(answer, dict) else _version_document(*answer)


def _products(params: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    entries: dict[str, dict[str, str]] = {}
    for name, value in params.items():
        match = _PRODUCT_PARAM.match(name)
        if match and isinstance(value, str):
            entries.setdefault(match.group(1), {})[match.group(2)] = value
    return entries


def _get_versions(caller: Caller, params: Mapping[str, Any]) -> HttpResponse:
    entries = _products(params)
    if not entries:
        return JsonResponse({"msg": "No item provided"})
    if len(entries) > MAX_PRODUCTS:
        return JsonResponse(_version_error(f"At most {MAX_PRODUCTS} products per request."))
    answers = _versions(caller, entries)
    return JsonResponse({name: _document(answers[name]) for name in entries})


# --- the endpoint -------------------------------------------------------------------------


@csrf_exempt
@allow("GET", "POST")
def edd_endpoint(request: HttpRequest) -> HttpResponse:
    """Dispatch `edd_action` as EDD Software Licensing does, HTTP 200 with the outcome."""
    answer = edd_answer(_params(request), Caller.of(request))
    if isinstance(answer, bytes):
        return HttpResponse(answer, content_type="application/json")
    return answer


@database_guard(UNAVAILABLE)
def edd_answer(params: Mapping[str, Any], caller: Caller) -> bytes | HttpResponse:
    """Answer one `edd_action` request from its parameters (the view and the lean path).

    `params` is what EDD reads (the query string when it names edd_action, else the form
    body); anything with `get`, `in` and `items` that gives each name's last value. Returns
    the JSON body of a single get_version's 200, else the response to send.
    """
    action = _text(params, "edd_action").lower()
    if action == "get_version":
        try:
            if any(name == "products" or name.startswith("products[") for name in params):
                return _get_versions(caller, params)
            answer = _versions(caller, {"": params})[""]
            return JsonResponse(answer) if isinstance(answer, dict) else version_body(*answer)
        except hotcache.RateLimited as limited:
            return too_many_checks(limited.wait)
    if action == "activate_license":
        return _activate(caller, params)
    if action == "deactivate_license":
        return _deactivate(caller, params)
    if action == "check_license":
        return _check(caller, params)
    return json_error(
        "unknown_action",
        f"edd_action must be one of {', '.join(ACTIONS)}.",
        400,
    )


@csrf_exempt
@allow("GET", "POST")
def updates_root(request: HttpRequest) -> HttpResponseBase:
    """The updates host's root: EDD's API when edd_action is sent, else the service index."""
    if "edd_action" in request.GET or "edd_action" in request.POST:
        return edd_endpoint(request)
    return index.index(request)
