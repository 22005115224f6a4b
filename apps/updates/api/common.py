"""What every update-API endpoint shares: site identity, rate limits, outages, JSON bodies.

Errors are answered with `apps.core.errors.json_error`, the shape every JSON endpoint uses.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase

from apps.core.errors import json_error
from apps.core.throttle import client_ip_of
from apps.licenses.sites import site_from_user_agent
from apps.updates import metrics
from apps.updates.delivery import hotcache
from apps.updates.delivery.package_tokens import updates_base_url

logger = logging.getLogger(__name__)

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_WP_USER_AGENT = re.compile(r"^WordPress/([0-9][0-9A-Za-z.\-]{0,30})")
MAX_PARAM = 2000

View = Callable[..., HttpResponseBase]
P = ParamSpec("P")
R = TypeVar("R")


class Asking(Protocol):
    """What the update API reads of a request besides its parameters: its META (the WSGI
    environ: User-Agent, client address). An HttpRequest is one; so is a `Caller`."""

    @property
    def META(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Caller:
    """A request as the dialects' answers see it: its META and where package links point."""

    META: Mapping[str, Any]
    base_url: str

    @classmethod
    def of(cls, request: HttpRequest) -> Caller:
        return cls(request.META, base_url(request))


def param(data: Any, name: str, default: str = "") -> str:
    """Return a request parameter as a trimmed string (lists and oversized values refused)."""
    value = data.get(name, default)
    if not isinstance(value, str):
        return default
    return value.strip()[:MAX_PARAM]


def flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on", "beta"}


def base_url(request: HttpRequest) -> str:
    """The address package links point at: DEPOT_UPDATES_BASE_URL, else this request's host."""
    return updates_base_url(f"{request.scheme}://{request.get_host()}")


def site_url_of(request: Asking, explicit: str = "") -> str | None:
    """The site a request speaks for: an explicit URL, else the one in WordPress's User-Agent."""
    return site_url_from(request.META.get("HTTP_USER_AGENT", ""), explicit)


def site_url_from(user_agent: str, explicit: str = "") -> str | None:
    """`site_url_of` for a request known by its User-Agent."""
    if explicit:
        return explicit
    return site_from_user_agent(user_agent)


def wp_version_of(request: Asking, explicit: str = "") -> str:
    return wp_version_from(request.META.get("HTTP_USER_AGENT", ""), explicit)


def wp_version_from(user_agent: str, explicit: str = "") -> str:
    """The WordPress version a request reports: an explicit one, else its User-Agent's."""
    if explicit:
        return explicit[:30]
    match = _WP_USER_AGENT.match(user_agent)
    return match.group(1) if match else ""


def rate_limit(request: Asking, bucket: str, *, fail_open: bool) -> HttpResponse | None:
    """Refuse a client over DEPOT_LICENSE_RATE_LIMIT requests a minute (429, Retry-After)."""
    limit: int = settings.DEPOT_LICENSE_RATE_LIMIT
    try:
        # Counted apart from update checks (`update_quota`, also "check"): a site's update
        # checks must not use up its license checks' far smaller allowance.
        wait = hotcache.rate_limited(f"license-{bucket}", client_ip_of(request.META), limit=limit)
    except hotcache.Unavailable:
        if fail_open:
            return None
        return json_error(
            "unavailable",
            "License changes are temporarily unavailable. Please try again in a few minutes.",
            503,
            Retry_After="30",
        )
    if wait is None:
        return None
    metrics.rate_limited.labels(bucket=bucket).inc()
    return json_error(
        "rate_limited",
        f"Too many license requests from this address. Try again in {wait} seconds.",
        429,
        Retry_After=str(wait),
    )


def update_quota(request: Asking) -> hotcache.Quota:
    """The client address's allowance of update checks (DEPOT_UPDATE_RATE_LIMIT a minute)."""
    return update_quota_of(request.META)


def update_quota_of(meta: Mapping[str, Any]) -> hotcache.Quota:
    """`update_quota` of a request's META (its WSGI environ)."""
    limit: int = settings.DEPOT_UPDATE_RATE_LIMIT
    return hotcache.Quota("check", client_ip_of(meta), limit)


def too_many_checks(wait: int) -> JsonResponse:
    """Answer an update check over the client address's quota (429, Retry-After)."""
    metrics.rate_limited.labels(bucket="check").inc()
    return json_error(
        "rate_limited",
        f"Too many update checks from this address. Try again in {wait} seconds.",
        429,
        Retry_After=str(wait),
    )


def database_guard(message: str) -> Callable[[Callable[P, R]], Callable[P, R | JsonResponse]]:
    """Turn a database outage into a 503 with `message` instead of a 500."""

    def decorate(view: Callable[P, R]) -> Callable[P, R | JsonResponse]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | JsonResponse:
            try:
                return view(*args, **kwargs)
            except DatabaseError:
                logger.exception("database unavailable in %s", view.__name__)
                return json_error("unavailable", message, 503, Retry_After="30")

        return wrapper

    return decorate


def json_body(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    """Parse a JSON object body, or return the 400 to answer with."""
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return json_error("invalid_json", "The request body is not valid JSON.", 400)
    if not isinstance(data, dict):
        return json_error("invalid_json", "The request body must be a JSON object.", 400)
    # JSON may escape a lone surrogate ("\ud800"), which no database or cache can store; only
    # such an escape can make one (UTF-8 itself cannot), so only then is the body re-encoded.
    if _SURROGATE_ESCAPE.search(request.body or b""):
        try:
            json.dumps(data, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            return json_error("invalid_json", "The request body contains invalid Unicode.", 400)
    return data


def allow(*methods: str) -> Callable[[View], View]:
    """Answer other methods with a JSON 405 (and Allow), like every other error here."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in allowed:
                return json_error(
                    "method_not_allowed",
                    f"Use {' or '.join(sorted(methods))} for this endpoint.",
                    405,
                    Allow=", ".join(sorted(allowed)),
                )
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
