"""Native v1: WordPress core's update-check shape, and license management as JSON.

POST /updates/v1/check takes what core sends to api.wordpress.org (every installed plugin's
headers, the active ones, the locale) plus ``licenses: {plugin_file: key}``, and answers in
core's ``update_plugins`` shape, so an ``update_plugins_{hostname}`` filter is the whole client.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.core.errors import json_error
from apps.licenses.catalogue import Product
from apps.licenses.selectors import license_check, product_by_slug
from apps.updates import metrics
from apps.updates.api.common import (
    allow,
    base_url,
    database_guard,
    flag,
    json_body,
    param,
    rate_limit,
    site_url_of,
    too_many_checks,
    update_quota,
    wp_version_of,
)
from apps.updates.delivery import hotcache, licensing
from apps.updates.delivery.offers import CheckInput, CheckOutcome, check_many

# A site with more plugins than this splits its check (documented in docs/api and OpenAPI).
MAX_PLUGINS = 200
UNAVAILABLE = "Update information is temporarily unavailable. WordPress will try again later."


def _slug_of(plugin_file: str) -> str:
    folder, _, _ = plugin_file.partition("/")
    return folder if "/" in plugin_file else folder.removesuffix(".php")


def _item(outcome: CheckOutcome, plugin_file: str, host: str) -> dict[str, Any]:
    product = outcome.product
    assert product is not None
    release = outcome.release
    version = release["version"] if release else outcome.input.installed_version
    item: dict[str, Any] = {
        "id": f"{host}/plugins/{product['slug']}",
        "slug": product["slug"],
        "plugin": plugin_file,
        "new_version": version,
        "url": product["homepage"],
        "package": outcome.package or "",
        "icons": {"1x": product["icons"]["1x"], "2x": product["icons"]["2x"]},
        "banners": {"1x": product["banners"]["low"], "2x": product["banners"]["high"]},
        "requires": release["requires_wp"] if release else "",
        "tested": release["tested"] if release else "",
        "requires_php": release["requires_php"] if release else "",
        "upgrade_notice": "",
    }
    if release is not None and outcome.package:
        item["upgrade_notice"] = release["upgrade_notice"]
    elif outcome.has_update or release is None:
        item["upgrade_notice"] = outcome.notice or outcome.license.message
    return item


def _plugins_of(data: dict[str, Any]) -> dict[Any, Any] | JsonResponse:
    """The request's plugin files to their headers, or the 400 that says what is wrong."""
    plugins = data.get("plugins")
    if isinstance(plugins, dict) and isinstance(plugins.get("plugins"), dict):
        plugins = plugins["plugins"]  # core nests them: {"plugins": {...}, "active": [...]}
    if not isinstance(plugins, dict) or not plugins:
        return json_error(
            "invalid_request",
            "'plugins' must be an object of plugin files to their headers, as WordPress sends.",
            400,
        )
    if len(plugins) > MAX_PLUGINS:
        return json_error(
            "batch_too_large", f"At most {MAX_PLUGINS} plugins per check; split the request.", 400
        )
    return plugins


def _check_inputs(
    request: HttpRequest, data: dict[str, Any]
) -> tuple[list[str], list[CheckInput]] | JsonResponse:
    """One offer-engine input per installed plugin, with the plugin files in the same order."""
    plugins = _plugins_of(data)
    if isinstance(plugins, JsonResponse):
        return plugins
    licenses = data.get("licenses")
    licenses = {} if licenses is None else licenses
    if not isinstance(licenses, dict):
        return json_error("invalid_request", "'licenses' must map plugin files to keys.", 400)
    locale = data.get("locale", "")
    if isinstance(locale, list):
        locale = locale[0] if locale and isinstance(locale[0], str) else ""
    beta = data.get("beta", False)
    site_url = site_url_of(request, param(data, "site_url") or param(data, "url"))
    wp_version = wp_version_of(request, param(data, "wp_version"))
    php_version = param(data, "php_version")[:30]

    files: list[str] = []
    inputs: list[CheckInput] = []
    for plugin_file, headers in plugins.items():
        if not isinstance(headers, dict) or not isinstance(plugin_file, str):
            return json_error(
                "invalid_request", f"The headers of {str(plugin_file)[:100]!r} are missing.", 400
            )
        key = licenses.get(plugin_file, "")
        files.append(plugin_file)
        inputs.append(
            CheckInput(
                slug=_slug_of(plugin_file)[:100],
                key=key.strip()[:200] if isinstance(key, str) else "",
                site_url=site_url,
                installed_version=param(headers, "Version")[:50],
                wp_version=wp_version,
                php_version=php_version,
                locale=str(locale)[:20],
                beta=flag(beta) if not isinstance(beta, list) else plugin_file in beta,
            )
        )
    return files, inputs


def _update_plugins(files: list[str], outcomes: list[CheckOutcome], *, host: str) -> dict[str, Any]:
    """Core's update_plugins answer: our plugins with an update, ours without; others left out."""
    answer: dict[str, Any] = {"plugins": {}, "no_update": {}, "translations": []}
    for plugin_file, outcome in zip(files, outcomes, strict=True):
        if outcome.product is None:
            continue  # not ours: core keeps asking wordpress.org or another host about it
        section = "plugins" if outcome.has_update else "no_update"
        metrics.update_check(
            "native",
            "no_update"
            if section == "no_update"
            else ("licensed" if outcome.package else "unlicensed"),
        ).inc()
        answer[section][plugin_file] = _item(outcome, plugin_file, host)
    return answer


@csrf_exempt
@allow("POST")
@database_guard(UNAVAILABLE)
def check(request: HttpRequest) -> HttpResponse:
    """Answer update checks for a site's installed plugins in core's update_plugins shape."""
    data = json_body(request)
    if isinstance(data, JsonResponse):
        return data
    parsed = _check_inputs(request, data)
    if isinstance(parsed, JsonResponse):
        return parsed
    files, inputs = parsed
    try:
        outcomes = check_many(
            inputs, base_url=base_url(request), quota=update_quota(request), activate_on_check=True
        )
    except hotcache.RateLimited as limited:
        return too_many_checks(limited.wait)
    host = base_url(request).split("://", 1)[-1]
    return JsonResponse(_update_plugins(files, outcomes, host=host))


LICENSE_UNAVAILABLE = (
    "License changes are temporarily unavailable. Please try again in a few minutes."
)
_STATUS_OF_CODE = {
    "missing": 404,
    "invalid_item_id": 404,
    "item_name_mismatch": 403,
    "missing_url": 400,
    "invalid_url": 400,
    "expired": 403,
    "disabled": 403,
    "no_activations_left": 409,
    "site_inactive": 409,
}


def license_summary(state: licensing.LicenseState | None) -> dict[str, Any] | None:
    """The license as a native client sees it (no other sites, no customer data)."""
    if state is None:
        return None
    return {
        "product": state.product_name,
        "expires": state.expires_at.isoformat() if state.expires_at else None,
        "activation_limit": state.activation_limit or None,
        "site_count": state.site_count,
        "activations_left": state.activations_left,
    }


def _license_request(
    request: HttpRequest, bucket: str, *, fail_open: bool
) -> tuple[dict[str, Any], Product | None, bool] | HttpResponse:
    limited = rate_limit(request, bucket, fail_open=fail_open)
    if limited is not None:
        return limited
    data = json_body(request)
    if isinstance(data, JsonResponse):
        return data
    if not param(data, "license_key"):
        return json_error("invalid_request", "'license_key' is required.", 400)
    slug = param(data, "slug")
    if not slug:
        return json_error("invalid_request", "'slug' (the plugin's folder name) is required.", 400)
    return data, product_by_slug(slug=slug[:100]), True


def _license_answer(result: licensing.LicenseResult) -> JsonResponse:
    if result.ok:
        return JsonResponse(
            {
                "status": result.status,
                "message": result.message,
                "site": result.site,
                "license": license_summary(result.state),
            }
        )
    body: dict[str, Any] = {"code": result.code, "message": result.message}
    if result.state is not None and result.code not in ("missing", "item_name_mismatch"):
        body["license"] = license_summary(result.state)
    return JsonResponse(body, status=_STATUS_OF_CODE.get(result.code, 400))


def _license_change(request: HttpRequest, action: str) -> HttpResponse:
    parsed = _license_request(request, action, fail_open=False)
    if isinstance(parsed, HttpResponse):
        return parsed
    data, product, given = parsed
    change = (
        licensing.license_activation if action == "activate" else licensing.license_deactivation
    )
    extra = {"environment": param(data, "environment")[:20]} if action == "activate" else {}
    return _license_answer(
        change(
            key=param(data, "license_key"),
            product=product,
            product_given=given,
            site_url=site_url_of(request, param(data, "site_url")),
            **extra,
        )
    )


@csrf_exempt
@allow("POST")
@database_guard(LICENSE_UNAVAILABLE)
def license_activate_view(request: HttpRequest) -> HttpResponse:
    """Activate a license on the calling site."""
    return _license_change(request, "activate")


@csrf_exempt
@allow("POST")
@database_guard(LICENSE_UNAVAILABLE)
def license_deactivate_view(request: HttpRequest) -> HttpResponse:
    """Deactivate a license on the calling site (its slot is freed)."""
    return _license_change(request, "deactivate")


@csrf_exempt
@allow("POST")
@database_guard(UNAVAILABLE)
def license_check_view(request: HttpRequest) -> HttpResponse:
    """Report a license's status for the calling site (EDD's status strings)."""
    parsed = _license_request(request, "check", fail_open=True)
    if isinstance(parsed, HttpResponse):
        return parsed
    data, product, _ = parsed
    if product is None:
        return json_error("invalid_item_id", "This server does not sell that plugin.", 404)
    check = license_check(
        key=param(data, "license_key"),
        product=product,
        site_url=site_url_of(request, param(data, "site_url")) or "",
    )
    metrics.license_actions.labels("check", check.status).inc()
    if check.state is None:
        return json_error("missing", check.message, 404)
    return JsonResponse(
        {"status": check.status, "message": check.message, "license": license_summary(check.state)}
    )
