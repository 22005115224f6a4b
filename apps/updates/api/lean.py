"""The updates role's lean path: the three hot endpoints without Django's middleware stack.

`LeanApplication` wraps the role's WSGI application (config/wsgi.py). A request for

- ``GET /updates/puc/<slug>/`` (PUC's metadata),
- ``POST /updates/edd/`` or ``POST /`` (EDD's ``edd_action``: get_version, check_license, …),
- ``POST /updates/v1/check`` (the native batch)

is matched by one regular expression instead of URL resolution. What the role's middleware
adds is done here directly: the request id (apps.core.logging), the security and frame
headers and Content-Length (Django's own SecurityMiddleware, XFrameOptionsMiddleware and
CommonMiddleware: their `process_response` is run once per scheme on a probe response and
what they add is kept as a plan), the error log of a 4xx/5xx, and the django-prometheus
series the dashboards read (requests, responses by status and view, latency by view).

**Direct answers.** A PUC GET, and an EDD request whose parameters are a plain query string
or UTF-8 form, is answered without Django's request and response objects: the parameters are
read as QueryDict reads them, the scheme and host's part (validated host, base URL of package
links, the header plan) is kept per origin, and the answer comes from the functions the views
call (`puc.puc_answer`, `edd.edd_answer`). A 200 is sent from here; any other answer, or an
exception, is finished through Django's request and the middleware's `process_response`.
Everything else on these routes (HEAD, other content, the native batch) is handed to the
very view Django would call, with a `LeanRequest` that keeps host validation per process.

**Request signals.** Of their default receivers only `close_old_connections` acts in this
role, so it is called directly before and after each request (`signals_needed`): database
connections are checked and closed as in any request. With DEBUG, a cache that closes its
connections, or any other receiver connected, both signals are sent as Django sends them.

Everything else goes to Django unchanged. A test replays every dialect case through both and
compares status, headers and body byte for byte, and checks which were answered directly
(tests/updates/test_lean_path.py), so the two cannot drift apart silently when the role's
middleware changes.

Not on the lean path: django-prometheus' other per-request series (by transport, body sizes,
charsets) and OpenTelemetry's Django spans; config/wsgi.py leaves the lean path off when
tracing is configured, or when DEPOT_UPDATES_LEAN=false.
"""

from __future__ import annotations

import codecs
import io
import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from timeit import default_timer
from typing import Any
from urllib.parse import unquote

from django.conf import settings
from django.core import signals
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import DisallowedHost, PermissionDenied
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import setting_changed
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.http import parse_header_parameters
from django.utils.log import log_response

from apps.core.logging import (
    request_context_begin,
    request_context_clear,
    request_context_enter,
)
from apps.updates.api import edd, native, puc
from apps.updates.api.common import Caller, base_url, update_quota_of

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
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any, Any]] = {}

    def _of(self, view: str, method: str, status: int) -> tuple[Any, Any, Any, Any]:
        key = (view, method, status)
        children = self._children.get(key)
        if children is None:
            m = self.metrics
            children = self._children[key] = (
                m.requests_total,
                m.responses_total,
                m.responses_by_status_view_method.labels(
                    status=str(status), view=view, method=method
                ),
                m.requests_latency_by_view_method.labels(view=view, method=method),
            )
        return children

    def record(self, view: str, method: str, status: int, started: float) -> None:
        requests, responses, by_status, latency = self._of(view, method, status)
        requests.inc()
        responses.inc()
        by_status.inc()
        latency.observe(default_timer() - started)


# --- the request ----------------------------------------------------------------------------

# How many entries each per-process table keyed by what clients send (hosts, origins, content
# types) keeps; past it, new ones are worked out per request as Django does.
_KEPT_MAX = 64

# Validated hosts by the raw Host (or X-Forwarded-Host) a request names; dropped when a setting
# changes (tests).
_hosts: dict[str, str] = {}


class LeanRequest(WSGIRequest):
    """Django's WSGIRequest, its host validated against ALLOWED_HOSTS once per raw host.

    An invalid host raises DisallowedHost as ever (and is not kept).
    """

    def get_host(self) -> str:
        raw = self._get_raw_host()  # type: ignore[attr-defined]
        host = _hosts.get(raw)
        if host is None:
            host = super().get_host()
            if len(_hosts) < _KEPT_MAX:
                _hosts[raw] = host
        return host


# What a request's scheme and host are read from (HttpRequest.get_host, is_secure), with the
# header SECURE_PROXY_SSL_HEADER names.
_ORIGIN_KEYS = (
    "HTTP_HOST",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "SERVER_NAME",
    "SERVER_PORT",
    "wsgi.url_scheme",
)


def _origin_keys() -> tuple[str, ...]:
    proxy_header = settings.SECURE_PROXY_SSL_HEADER
    return _ORIGIN_KEYS + ((proxy_header[0],) if proxy_header else ())


def query_last(text: str) -> dict[str, str]:
    """``dict(parse_qsl(text, keep_blank_values=True))``: each name's last value.

    The same splitting and decoding as parse_qsl's (3.11: '&' only, '+' a space, %XX as UTF-8
    with errors replaced), with unquote called only for a part that has something to decode.
    """
    found: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "+" in name or "%" in name:
            name = unquote(name.replace("+", " "))
        if "+" in value or "%" in value:
            value = unquote(value.replace("+", " "))
        found[name] = value
    return found


def _query_simple(raw: str) -> bool:
    """True for a query string QueryDict reads as parse_qsl does: ASCII, within the limit."""
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    return raw.isascii() and (limit is None or raw.count("&") < limit)


# Content types whose body QueryDict reads as a UTF-8 form, by the header's exact text.
_form_types: dict[str, bool] = {}


def _form_type(content_type: str) -> bool:
    simple = _form_types.get(content_type)
    if simple is None:
        main, params = parse_header_parameters(content_type)
        charset = params.get("charset")
        if charset is not None:
            try:
                codecs.lookup(charset)
            except LookupError:
                charset = None  # ignored, as WSGIRequest ignores it
        # As HttpRequest._load_post_and_files: a form is UTF-8 (another charset is refused).
        simple = main == "application/x-www-form-urlencoded" and (
            charset is None or charset.lower() == "utf-8"
        )
        if len(_form_types) < _KEPT_MAX:
            _form_types[content_type] = simple
    return simple


def _form(environ: dict[str, Any]) -> dict[str, str] | None:
    """A POST's form fields (each name's last value) as request.POST holds them, or None.

    None unless the body is a UTF-8 form within DATA_UPLOAD_MAX_MEMORY_SIZE and simple (see
    `_query_simple`). The body read is put back in the environ for Django, if it answers.
    """
    if not _form_type(environ.get("CONTENT_TYPE", "")):
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if length < 0 or (limit is not None and length > limit):
        return None
    try:
        body = environ["wsgi.input"].read(length) if length else b""
    except OSError:  # the client went away: Django reads (and fails on) the rest
        return None
    environ["wsgi.input"] = io.BytesIO(body)
    if not body.isascii():
        return None
    text = body.decode("ascii")
    if not _query_simple(text):
        return None
    return query_last(text)


# --- the request's signals ------------------------------------------------------------------


def _receivers(signal: Any) -> set[Any]:
    found = set()
    for _, receiver, *_ in signal.receivers:
        found.add(receiver() if isinstance(receiver, weakref.ReferenceType) else receiver)
    return found


def _caches_close_nothing() -> bool:
    """True when Django's `close_caches` closes nothing: every cache's close() is a no-op."""
    from django_redis.cache import RedisCache

    for alias, config in settings.CACHES.items():
        cache = caches[alias]
        if isinstance(cache, RedisCache):
            default = getattr(settings, "DJANGO_REDIS_CLOSE_CONNECTION", False)
            if config.get("OPTIONS", {}).get("CLOSE_CONNECTION", default):
                return False
        elif type(cache).close is not BaseCache.close:
            return False
    return True


def signals_needed() -> bool:
    """Whether requests must send request_started/finished, or may call their receivers.

    Of what listens by default only `close_old_connections` acts here: `reset_queries` acts with
    DEBUG, `close_caches` on caches that close (django-redis does not by default), `reset_urlconf`
    on a per-request URLconf (the lean path sets none), `request_context_clear` is called
    directly. So the lean path calls those two and sends
    nothing, unless DEBUG is on, a cache closes, or anything else is connected: then it sends
    both signals as Django does.
    """
    from django.core.cache import close_caches
    from django.core.handlers.base import reset_urlconf
    from django.db import reset_queries

    known = {reset_queries, close_old_connections, close_caches, reset_urlconf}
    known.add(request_context_clear)
    connected = _receivers(signals.request_started) | _receivers(signals.request_finished)
    return bool(settings.DEBUG) or not connected <= known or not _caches_close_nothing()


# --- the response ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What the role's middleware adds to an ordinary response: headers before and after
    Content-Length, found once by running the middleware itself on a probe response."""

    json: tuple[tuple[str, str], ...]  # an HttpResponse(content_type="application/json")'s own
    before: tuple[tuple[str, str], ...]
    after: tuple[tuple[str, str], ...]
    names: frozenset[str]  # lower case, as ResponseHeaders keeps them

    def fits(self, response: Any) -> bool:
        """True when the middleware would add exactly this plan to `response`."""
        return (
            type(response) in (HttpResponse, JsonResponse)
            and response.status_code != 404  # CommonMiddleware's slash redirect
            and not response.cookies
            and not getattr(response, "xframe_options_exempt", False)
            and self.names.isdisjoint(response.headers._store)
        )

    def json_headers(self, body: bytes) -> list[tuple[str, str]]:
        """The headers of HttpResponse(body, content_type="application/json") after the plan."""
        return self.headers(list(self.json), body)

    def headers(self, own: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
        """A fitting response's headers (`own`, then the plan's) for `body`."""
        return [*own, *self.before, ("Content-Length", str(len(body))), *self.after]


@dataclass(frozen=True)
class _Origin:
    """What a request's scheme and host decide, found once with Django's own request."""

    base_url: str  # where package links point (apps.updates.api.common.base_url)
    plan: _Plan


# An origin whose requests the middleware may answer before the view (the HTTPS redirect for
# plain HTTP, which may depend on the path; PREPEND_WWW; DISALLOWED_USER_AGENTS): `_serve`.
_TO_DJANGO = object()


class LeanApplication:
    """A WSGI application: the hot update endpoints served directly, the rest by `app`."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.app = app
        self._security = SecurityMiddleware(_unused)
        self._frames = XFrameOptionsMiddleware(_unused)
        self._common = CommonMiddleware(_unused)
        self._metrics: _Metrics | None = None
        self._plans: dict[bool, _Plan] = {}
        self._origins: dict[tuple[Any, ...], Any] = {}
        self._origin_keys = _origin_keys()
        self._signals: bool | None = None
        # Kept while this application is (a weak reference to the bound method).
        setting_changed.connect(self._settings_changed)

    def _settings_changed(self, **kwargs: Any) -> None:
        _hosts.clear()
        self._plans.clear()
        self._origins.clear()
        self._origin_keys = _origin_keys()
        self._signals = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        found = None
        if not environ.get("SCRIPT_NAME"):
            found = _route(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        if found is None:
            return self.app(environ, start_response)
        route, kwargs = found
        answered = self._direct(route, kwargs, environ, start_response)
        if answered is not None:
            return answered
        return self._serve(route, kwargs, environ, start_response)

    # --- PUC and EDD answered without Django's request and response ----------------------

    def _direct(
        self,
        route: _Route,
        kwargs: dict[str, str],
        environ: dict[str, Any],
        start_response: StartResponse,
    ) -> list[bytes] | None:
        """Answer a PUC GET or an EDD form POST directly, or None to serve it in full.

        Taken when the request signals need not be sent (`signals_needed`), the host is
        served, no HTTPS redirect is due and the parameters are ASCII within
        DATA_UPLOAD_MAX_NUMBER_FIELDS (and an EDD body a UTF-8 form within
        DATA_UPLOAD_MAX_MEMORY_SIZE): then QueryDict would read them as parse_qsl does. The
        answer comes from the functions the views call (puc.puc_answer, edd.edd_answer); a
        200 is sent from here, anything else (or an exception) is finished through Django's
        request and the role's middleware as `_serve` does.
        """
        if self._signals is None:
            self._signals = signals_needed()
        raw = environ.get("QUERY_STRING", "")
        if self._signals or not _query_simple(raw) or route.view is native.check:
            return None
        origin = self._origin(environ)
        if origin is None:
            return None
        query = query_last(raw)
        if route.view is puc.puc_metadata:
            if environ["REQUEST_METHOD"] != "GET":
                return None
            slug = kwargs["slug"]
            ua = environ.get("HTTP_USER_AGENT", "")

            def answer() -> bytes | HttpResponse:
                item = puc.puc_input(slug, query, ua)
                return puc.puc_answer(
                    item, base_url=origin.base_url, quota=update_quota_of(environ)
                )

        else:
            params = query if "edd_action" in query else _form(environ)
            if params is None or "edd_action" not in params:
                return None  # not a simple form, or the root's service index: Django's

            def answer() -> bytes | HttpResponse:
                return edd.edd_answer(params, Caller(environ, origin.base_url))

        started = default_timer()
        self._begin(environ)
        request_id = request_context_enter(environ)
        try:
            response = answer()
        except Exception as exc:  # as Django's handler: a 500 page, logged
            response = response_for_exception(LeanRequest(environ), exc)
        return self._direct_finish(
            route, environ, response, request_id, origin, started, start_response
        )

    def _direct_finish(
        self,
        route: _Route,
        environ: dict[str, Any],
        response: bytes | HttpResponse,
        request_id: str,
        origin: _Origin,
        started: float,
        start_response: StartResponse,
    ) -> Any:
        if isinstance(response, bytes):  # JSON the view would send as HttpResponse(body)
            body, headers = response, origin.plan.json_headers(response)
        elif (
            response.status_code == 200
            and origin.plan.fits(response)
            and not response._resource_closers  # type: ignore[attr-defined]
        ):
            body = response.content
            headers = origin.plan.headers(list(response.items()), body)
        else:
            request = LeanRequest(environ)
            request.request_id = request_id  # type: ignore[attr-defined]
            return self._respond(route, request, response, request_id, started, start_response)
        self._start(route, environ["REQUEST_METHOD"], "200 OK", headers, request_id, started)
        start_response("200 OK", headers)
        self._end()
        return [body]

    def _origin(self, environ: dict[str, Any]) -> _Origin | None:
        """The scheme and host's share of the answer, kept per distinct (valid) origin."""
        key = tuple(environ.get(name) for name in self._origin_keys)
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origin_find(environ)
            if origin is None:
                return None  # a host not served: not kept (anyone can send one)
            if len(self._origins) < _KEPT_MAX:
                self._origins[key] = origin
        return None if origin is _TO_DJANGO else origin

    def _origin_find(self, environ: dict[str, Any]) -> Any:
        request = LeanRequest(environ)
        try:
            request.get_host()
        except DisallowedHost:
            return None
        if (
            (settings.SECURE_SSL_REDIRECT and not request.is_secure())
            or settings.PREPEND_WWW
            or settings.DISALLOWED_USER_AGENTS
        ):
            return _TO_DJANGO  # the middleware may answer before the view: see _serve
        return _Origin(base_url=base_url(request), plan=self._plan(request))

    # --- everything else on the lean routes -----------------------------------------------

    def _serve(
        self,
        route: _Route,
        kwargs: dict[str, str],
        environ: dict[str, Any],
        start_response: StartResponse,
    ) -> Any:
        started = default_timer()
        request = LeanRequest(environ)
        try:
            answered = self._common.process_request(request) is not None
        except (DisallowedHost, PermissionDenied):
            answered = True
        if answered or self._security.process_request(request) is not None:
            # Answered by the middleware before any view (a host or User-Agent refused, a
            # redirect to www or to HTTPS): by Django, with its headers, as ever.
            return self.app(environ, start_response)
        self._begin(environ)
        request_id = request_context_begin(request)
        try:
            response = route.view(request, **kwargs)
        except Exception as exc:  # as Django's handler: a 500 page, logged
            response = response_for_exception(request, exc)
        return self._respond(route, request, response, request_id, started, start_response)

    def _respond(
        self,
        route: _Route,
        request: HttpRequest,
        response: Any,
        request_id: str,
        started: float,
        start_response: StartResponse,
    ) -> Any:
        """Send a view's response as the role's middleware and Django's handler would."""
        headers = self._headers(request, response)
        if response.status_code >= 400:
            log_response(
                "%s: %s",
                response.reason_phrase,
                request.path,
                response=response,
                request=request,
            )
        status = f"{response.status_code} {response.reason_phrase}"
        self._start(route, request.method or "", status, headers, request_id, started)
        start_response(status, headers)
        if response.streaming or response._resource_closers:
            # Not from these views; closed by the server as Django's own responses are.
            response._resource_closers.append(request.close)
            return response
        body = response.content
        request.close()
        self._end()
        return [body]

    # --- what every lean request does, as the handler and the role's middleware would -----

    def _begin(self, environ: dict[str, Any]) -> None:
        if self._signals is None:
            self._signals = signals_needed()
        if self._signals:
            signals.request_started.send(sender=self.__class__, environ=environ)
        else:
            close_old_connections()

    def _start(
        self,
        route: _Route,
        method: str,
        status: str,
        headers: list[tuple[str, str]],
        request_id: str,
        started: float,
    ) -> None:
        """Add the request id to the headers and count the answer (status "200 OK")."""
        headers.append(("X-Request-ID", request_id))
        if self._metrics is None:
            self._metrics = _Metrics()
        self._metrics.record(route.name, method, int(status[:3]), started)

    def _end(self) -> None:
        if self._signals:
            signals.request_finished.send(sender=self.__class__)
        else:
            close_old_connections()
            request_context_clear()

    def _headers(self, request: HttpRequest, response: Any) -> list[tuple[str, str]]:
        """The response's headers as the role's middleware leaves them."""
        plan = self._plan(request)
        if plan.fits(response):
            return plan.headers(list(response.items()), response.content)
        response = self._middleware(request, response)
        return [
            *response.items(),
            *(("Set-Cookie", c.output(header="")) for c in response.cookies.values()),
        ]

    def _middleware(self, request: HttpRequest, response: Any) -> Any:
        """The role's middleware, innermost first, as their response phases run."""
        response = self._frames.process_response(request, response)
        response = self._common.process_response(request, response)
        return self._security.process_response(request, response)

    def _plan(self, request: HttpRequest) -> _Plan:
        # HSTS depends on the request being secure; nothing else the plan holds on the request.
        secure = request.is_secure()
        plan = self._plans.get(secure)
        if plan is None:
            probe = HttpResponse(b"probe", content_type="application/json")
            own = list(probe.items())
            added = list(self._middleware(request, probe).items())[len(own) :]
            names = [name for name, _ in added]
            cut = names.index("Content-Length")
            plan = self._plans[secure] = _Plan(
                json=tuple(own),
                before=tuple(added[:cut]),
                after=tuple(added[cut + 1 :]),
                names=frozenset(name.lower() for name in names),
            )
        return plan
