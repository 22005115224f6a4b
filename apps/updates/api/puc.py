"""Plugin Update Checker (PUC 4/5) metadata: GET /updates/puc/<slug>/."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from apps.core.errors import json_error
from apps.updates import metrics
from apps.updates.api.common import (
    allow,
    base_url,
    database_guard,
    flag,
    param,
    site_url_from,
    too_many_checks,
    update_quota,
    wp_version_from,
)
from apps.updates.delivery import hotcache
from apps.updates.delivery.offers import CheckInput, CheckOutcome, check_many
from apps.updates.delivery.rendered import ByIdentity

UNAVAILABLE = "Update information is temporarily unavailable. WordPress will try again later."


_bodies = ByIdentity()


def puc_body(outcome: CheckOutcome, release: dict[str, Any]) -> bytes:
    """Return PUC's metadata JSON as JsonResponse would encode `puc_document`'s answer.

    Everything but the package link is the same for every site offered this release with the
    same notice: encoded once per snapshot, the link spliced in.
    """
    product = outcome.product
    assert product is not None
    entitled = bool(outcome.package and release is outcome.release)
    notice = "" if entitled else (outcome.notice or outcome.license.message)

    def encode() -> bytes:
        document = puc_document(outcome, release)
        document.pop("download_url", None)
        return json.dumps(document, cls=DjangoJSONEncoder).encode()

    base = _bodies.get((product, release), (entitled, notice), encode)
    if not entitled or outcome.package is None:
        return base
    link = json.dumps(outcome.package).encode()
    return base[:-1] + b', "download_url": ' + link + b"}"


def puc_document(outcome: CheckOutcome, release: dict[str, Any]) -> dict[str, Any]:
    """Build PUC's metadata JSON for `release`; `download_url` only when entitled."""
    product = outcome.product
    assert product is not None
    document: dict[str, Any] = {
        "name": product["name"],
        "slug": product["slug"],
        "version": release["version"],
        "homepage": product["homepage"],
        "requires": release["requires_wp"],
        "tested": release["tested"],
        "requires_php": release["requires_php"],
        "last_updated": release["published_at"],
        "upgrade_notice": release["upgrade_notice"],
        "author": product["author"],
        "author_homepage": product["author_homepage"],
        "sections": {
            "description": release["description"] or product["description"],
            "installation": release["installation"],
            "changelog": release["changelog"],
        },
        "banners": dict(product["banners"]),
        "icons": dict(product["icons"]),
    }
    if outcome.package and release is outcome.release:
        document["download_url"] = outcome.package
    else:
        # PUC shows upgrade_notice next to the update, so the reason reaches the site admin.
        document["upgrade_notice"] = outcome.notice or outcome.license.message
    return document


def puc_input(slug: str, query: Mapping[str, str], user_agent: str) -> CheckInput:
    """Read one PUC check from its query (each parameter's last value) and User-Agent."""
    return CheckInput(
        slug=slug,
        key=param(query, "license_key") or param(query, "license"),
        site_url=site_url_from(user_agent, param(query, "site_url") or param(query, "url")),
        installed_version=param(query, "installed_version")[:50],
        wp_version=wp_version_from(user_agent, param(query, "wp_version")),
        php_version=param(query, "php")[:30],
        locale=param(query, "locale")[:20],
        beta=flag(query.get("beta", "")) or param(query, "channel") == "beta",
    )


@database_guard(UNAVAILABLE)
def puc_answer(item: CheckInput, *, base_url: str, quota: hotcache.Quota) -> bytes | HttpResponse:
    """Answer one PUC check: the metadata JSON of a 200, else the error response to send.

    The view and the lean path's direct answer (apps.updates.api.lean) both call this.
    """
    try:
        outcome = check_many([item], base_url=base_url, quota=quota, activate_on_check=True)[0]
    except hotcache.RateLimited as limited:
        return too_many_checks(limited.wait)
    if outcome.product is None:
        metrics.update_check("puc", "unknown_product").inc()
        return json_error("unknown_product", f"There is no plugin called {item.slug!r} here.", 404)
    release = outcome.release or outcome.latest_stable
    if release is None:
        metrics.update_check("puc", "no_release").inc()
        return json_error(
            "no_release", f"{outcome.product['name']} has no published release yet.", 404
        )
    metrics.update_check("puc", "licensed" if outcome.package else "unlicensed").inc()
    return puc_body(outcome, release)


@allow("GET")
def puc_metadata(request: HttpRequest, slug: str) -> HttpResponseBase:
    """Answer PUC's metadata request for one plugin, licensed or not."""
    item = puc_input(slug, request.GET.dict(), request.META.get("HTTP_USER_AGENT", ""))
    answer = puc_answer(item, base_url=base_url(request), quota=update_quota(request))
    if isinstance(answer, bytes):
        return HttpResponse(answer, content_type="application/json")
    return answer
