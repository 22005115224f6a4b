"""Per-client throttles for forms a stranger may repeat: password-reset requests, coupon codes.

Counts live in the default cache through django-ratelimit's fixed windows. A throttle is a
guard against guessing and mail-bombing, not a gate the store depends on, so when the cache is
down it lets the request through (RATELIMIT_FAIL_OPEN for a cache that answers None, and the
except below for one that raises).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

logger = logging.getLogger(__name__)

Key = Callable[[str, HttpRequest], str]


def client_ip(request: HttpRequest) -> str:
    """Return the client's address; behind DEPOT_TRUSTED_PROXIES proxies, from X-Forwarded-For.

    The one rule for every per-address limit: sign-in lock-outs, store throttles, the API's.
    """
    return client_ip_of(request.META)


def client_ip_of(meta: Mapping[str, Any]) -> str:
    """`client_ip` of a request's META (its WSGI environ)."""
    proxies: int = settings.DEPOT_TRUSTED_PROXIES
    if proxies:
        hops = [h.strip() for h in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= proxies:
            return hops[-proxies][:64]
    return str(meta.get("REMOTE_ADDR", ""))[:64]


def by_ip(group: str, request: HttpRequest) -> str:
    """Key a throttle by the client's address."""
    return client_ip(request)


def throttle_wait(
    request: HttpRequest, *, group: str, rate: str, key: Key = by_ip, count: bool = True
) -> int | None:
    """Return the seconds `request` must wait under `rate` ("10/h") for `group`, else None.

    With `count`, this request is counted first; without, the count is only read (for throttles
    that count failures, which the caller counts with throttle_count once it knows).
    """
    try:
        usage = get_usage(request, group=group, key=key, rate=rate, increment=count)
    except Exception:  # the cache is down: a throttle fails open
        logger.warning("throttle %s: cache unavailable, request let through", group, exc_info=True)
        return None
    if usage is None:
        return None
    over = usage["count"] > usage["limit"] if count else usage["count"] >= usage["limit"]
    return max(usage["time_left"], 1) if over else None


def throttle_count(request: HttpRequest, *, group: str, rate: str, key: Key = by_ip) -> None:
    """Count one failure of `request` against `group`'s `rate`."""
    throttle_wait(request, group=group, rate=rate, key=key)


def minutes(seconds: int) -> str:
    """Say `seconds` as whole minutes, rounded up: "1 minute", "15 minutes"."""
    n = max(1, math.ceil(seconds / 60))
    return f"{n} minute" if n == 1 else f"{n} minutes"
