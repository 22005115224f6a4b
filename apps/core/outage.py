"""The database lost under a request: a 503 with Retry-After, never a 500.

Only connection-level errors count (the server refused, went away, or is shutting down); an
integrity error or a deadlock is a bug or a race and stays a 500. The failed statement ran in
no transaction that could commit, so nothing is half-written, and Django drops the broken
connection at the end of the request (CONN_HEALTH_CHECKS), so the next request reconnects.
A Stripe webhook gets the 503 too, on purpose: Stripe retries a 5xx, and the event is applied
once when it arrives again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
# MySQL/MariaDB client and server codes that mean "no usable connection": can't connect
# (2002, 2003, 2005), gone away or lost (2006, 2013, 2055), handshake or TLS failed (2012,
# 2026), too many connections (1040), shutting down (1053), killed (1927), idle timeout (4031).
CONNECTION_ERROR_CODES = frozenset(
    {2002, 2003, 2005, 2006, 2012, 2013, 2026, 2055, 1040, 1053, 1927, 4031}
)
# Paths whose clients read JSON (WordPress sites, Stripe, scrapers, the vendor API).
JSON_PREFIXES = ("/updates/", "/vendor/", "/store/webhooks/", "/healthz", "/readyz", "/metrics")


def is_connection_error(exc: BaseException) -> bool:
    """Return whether `exc` says the database cannot be reached (not that a query failed)."""
    if isinstance(exc, InterfaceError):
        return True
    if isinstance(exc, OperationalError):
        code = exc.args[0] if exc.args else None
        return code in CONNECTION_ERROR_CODES
    return False


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """Answer 503 with Retry-After: JSON for API clients, a short page for people."""
    response: HttpResponse
    if request.path_info.startswith(JSON_PREFIXES) or "text/html" not in request.headers.get(
        "Accept", ""
    ):
        response = JsonResponse(
            {
                "code": "temporarily_unavailable",
                "message": "The service is briefly unavailable; nothing was changed. "
                f"Try again in {RETRY_AFTER_SECONDS} seconds.",
            },
            status=503,
        )
    else:
        # No context processors: they would reach for the session and the user, which need
        # the database that is gone.
        html = render_to_string(
            "core/unavailable.html",
            {
                "request": request,
                "site_name": settings.DEPOT_SITE_NAME,
                "retry_after": RETRY_AFTER_SECONDS,
            },
        )
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """Turn a lost database connection raised by a view into a 503 (see module docstring).

    What middleware raises (a session read, say) reaches `apps.core.views.server_error`,
    the URLconfs' handler500, which gives the same answer.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_connection_error(exception):
            return None
        logger.warning(
            "database unavailable, answered 503: %s %s: %s",
            request.method,
            request.path_info,
            exception,
        )
        return database_unavailable(request)
