"""The updates role's lean path: the three hot endpoints without Django's middleware stack.

`LeanApplication` wraps the role's WSGI application (config/wsgi.py). A request for

- ``GET /updates/puc/<slug>/`` (PUC's metadata),
- ``POST /updates/edd/`` or ``POST /`` (EDD's ``edd_action``: get_version, check_license, …),
- ``POST /updates/v1/check`` (the native batch)

is matched by one regular expression instead of URL resolution, and handed to the very view
Django would call, with what the role's middleware adds done here directly: the request id
(apps.core.logging), the security and frame headers (Django's own SecurityMiddleware and
XFrameOptionsMiddleware, whose `process_response` is called), Content-Length
(CommonMiddleware), the request's signals (database connections are opened and closed as in
any request), the error log of a 4xx/5xx, and the django-prometheus series the dashboards
read (requests, responses by status and view, latency by view). Everything else goes to
Django unchanged. A test replays every dialect case through both and compares status, headers
and body byte for byte (tests/updates/test_lean_path.py), so the two cannot drift apart
silently when the role's middleware changes.

Not on the lean path: django-prometheus' other per-request series (by transport, body sizes,
charsets) and OpenTelemetry's Django spans; config/wsgi.py leaves the lean path off when
tracing is configured, or when DEPOT_UPDATES_LEAN=false.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from timeit import default_timer
from typing import Any

from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.log import log_response

from apps.core.logging import request_context_begin
from apps.updates.api import edd, native, puc

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class _Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    view: Callable[..., Any]
    name: str


# The slug converter's pattern, as in apps/updates/urls.py (`<slug:slug>`).
_ROUTES = (
    _Route(
        frozenset({"GET", "HEAD"}),
        re.compile(r"/updates/puc/(?P<slug>[-a-zA-Z0-9_]+)/"),
        puc.puc_metadata,
        "updates:puc",
    ),
    _Route(frozenset({"POST"}), re.compile(r"/updates/edd/"), edd.edd_endpoint, "updates:edd"),
    _Route(frozenset({"POST"}), re.compile(r"/"), edd.updates_root, "updates-root"),
    _Route(frozenset({"POST"}), re.compile(r"/updates/v1/check"), native.check, "updates:v1-check"),
)


def _route(method: str, path: str) -> tuple[_Route, dict[str, str]] | None:
    for route in _ROUTES:
        if method in route.methods:
            match = route.pattern.fullmatch(path)
            if match is not None:
                return route, match.groupdict()
    return None


def _unused(request: Any) -> HttpResponse:
    raise AssertionError("the lean path calls only process_response")


class _Metrics:
    """The django-prometheus series the update dashboards read, with their children kept."""

    def __init__(self) -> None:
        from django_prometheus.middleware import Metrics

        self.metrics = Metrics.get_instance()
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, name: str, **labels: str) -> Any:
        key = (name, *labels.values())
        child = self._children.get(key)
        if child is None:
            metric = getattr(self.metrics, name)
            child = self._children[key] = metric.labels(**labels) if labels else metric
        return child

    def record(self, view: str, method: str, status: int, started: float) -> None:
        self._child("requests_total").inc()
        self._child("responses_total").inc()
        self._child(
            "responses_by_status_view_method", status=str(status), view=view, method=method
        ).inc()
        self._child("requests_latency_by_view_method", view=view, method=method).observe(
            default_timer() - started
        )


class LeanApplication:
    """A WSGI application: the hot update endpoints served directly, the rest by `app`."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.app = app
        self._security = SecurityMiddleware(_unused)
        self._frames = XFrameOptionsMiddleware(_unused)
        self._common = CommonMiddleware(_unused)
        self._metrics: _Metrics | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        found = None
        if not environ.get("SCRIPT_NAME"):
            found = _route(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        if found is None:
            return self.app(environ, start_response)
        route, kwargs = found
        return self._serve(route, kwargs, environ, start_response)

    def _serve(
        self,
        route: _Route,
        kwargs: dict[str, str],
        environ: dict[str, Any],
        start_response: StartResponse,
    ) -> Any:
        started = default_timer()
        request = WSGIRequest(environ)
        try:
            request.get_host()
        except DisallowedHost:
            # Refused by CommonMiddleware before any view: Django's answer, with its headers.
            return self.app(environ, start_response)
        if self._security.process_request(request) is not None:
            # SECURE_SSL_REDIRECT: plain HTTP is sent to HTTPS, by Django as ever.
            return self.app(environ, start_response)
        signals.request_started.send(sender=self.__class__, environ=environ)
        request_id = request_context_begin(request)
        try:
            response = route.view(request, **kwargs)
        except Exception as exc:  # as Django's handler: a 500 page, logged
            response = response_for_exception(request, exc)
        # The role's middleware, innermost first, as their response phases run.
        response = self._frames.process_response(request, response)
        response = self._common.process_response(request, response)
        response = self._security.process_response(request, response)  # type: ignore[arg-type]
        response["X-Request-ID"] = request_id
        response._resource_closers.append(request.close)  # type: ignore[attr-defined]
        if response.status_code >= 400:
            log_response(
                "%s: %s",
                response.reason_phrase,
                request.path,
                response=response,
                request=request,
            )
        if self._metrics is None:
            self._metrics = _Metrics()
        self._metrics.record(route.name, request.method or "", response.status_code, started)
        start_response(
            f"{response.status_code} {response.reason_phrase}",
            [
                *response.items(),
                *(("Set-Cookie", c.output(header="")) for c in response.cookies.values()),
            ],
        )
        return response
