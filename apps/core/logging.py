"""Log formatting, the filter that keeps secrets out of every log line Depot writes, and the
request id and trace id each line carries.

Plain stdlib on purpose: gunicorn's master imports this module (deploy/gunicorn/common.py)
before Django is set up. The JSON formatter is ours rather than python-json-logger's: the
fields are few and fixed, the redact filter has already formatted the message, and a
dependency in gunicorn's master for twenty lines buys nothing.
"""

import contextvars
import json
import logging
import random
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

REDACTED = "[redacted]"

# Query parameters that carry a secret: PUC's `license_key`, EDD's `license` (also inside
# `products[<slug>][license]`, raw or %-encoded), the confirmation page's `key`, tokens.
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;](?:[^=&\s\"'#]*?(?:\[|%5B))?"
    r"(?:license_key|license|key|access_key|token|password)(?:\]|%5D)?=)"
    r"(?P<value>[^&\s\"'#]+)",
    re.IGNORECASE,
)
# Secrets in the path: package links (/updates/download/<token>/<file>.zip) and the
# password-reset link (/account/password/<uidb64>/<token>/; "set-password" is Django's
# placeholder once the token moved into the session, not a secret).
_SECRET_PATH = re.compile(
    r"(?P<name>/download/|/password/[^/\s?\"'#]+/)(?!set-password/)(?P<value>[^/\s?\"'#]+)(?=/)"
)
# A license key wherever it shows up: six groups of five Crockford base32 symbols, any case.
_SYMBOL = "[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]"
_LICENSE_KEY = re.compile(rf"(?<![0-9A-Za-z]){_SYMBOL}{{5}}(?:-{_SYMBOL}{{5}}){{5}}(?![0-9A-Za-z])")


def redact(text: str) -> str:
    """Return `text` with license keys, download and reset tokens and access keys replaced."""
    # Cheap tests first: they skip the regexes on most lines (a PUC access-log line takes
    # ~7 µs here, a native check's 0.4 µs; 15-23 µs with every regex run on every line).
    if "=" in text:
        text = _SECRET_PARAM.sub(rf"\g<name>{REDACTED}", text)
    if "/download/" in text or "/password/" in text:
        text = _SECRET_PATH.sub(rf"\g<name>{REDACTED}", text)
    if text.count("-") >= 5:
        text = _LICENSE_KEY.sub(REDACTED, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrite a record's message with its secrets redacted; installed on every handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Formatted once here; the formatter then finds the message without arguments.
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            # Formatters cache the traceback here; an exception's text may quote a URL.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


# The id of the request (or of the request that caused the task) this context works for: set by
# RequestIdMiddleware, and in workers from the task's headers (config/celery_app.py).
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "depot_request_id", default=None
)
# nginx's $request_id is 32 hex digits; anything this shape is safe to echo and log as it is.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# The request's own span (trace id, span id), for the lines logged after it ended.
_request_span: contextvars.ContextVar[tuple[str | None, str | None] | None] = (
    contextvars.ContextVar("depot_request_span", default=None)
)


def request_id_get() -> str | None:
    """Return the request id of the current request or task, None outside both."""
    return _request_id.get()


def request_id_set(value: str | None) -> contextvars.Token[str | None]:
    """Make `value` the current request id; return the token that restores the previous one."""
    return _request_id.set(value)


def request_id_reset(token: contextvars.Token[str | None]) -> None:
    """Restore the request id a `request_id_set` replaced."""
    _request_id.reset(token)


def request_id_accept(value: str | None) -> str:
    """Return `value` if it looks like a request id (from nginx), else a new random one."""
    if value and _REQUEST_ID.fullmatch(value):
        return value
    # 32 hex digits like nginx's; an id, not a secret (the random module is reseeded on fork).
    return f"{random.getrandbits(128):032x}"


class RequestIdMiddleware:
    """Give each request an id: nginx's X-Request-ID, or a new one; echoed in the response.

    First in MIDDLEWARE, so every line logged while the request is served carries it, and what
    the request enqueues (task headers, outbox rows) takes it along to the worker. The id (and
    the request's span) stay current until the response is closed: Django logs a 4xx or 5xx
    answer after the middleware has returned it.
    """

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from django.core.signals import request_finished

        self.get_response = get_response
        request_finished.connect(request_context_clear, dispatch_uid="depot-request-id")

    def __call__(self, request: Any) -> Any:
        request_id = request_context_begin(request)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def request_context_begin(request: Any) -> str:
    """Take the request's id (see RequestIdMiddleware) and make it current; return it.

    Cleared when the request finishes (request_finished), as the middleware arranges.
    """
    request_id = request_context_enter(request.META)
    request.request_id = request_id
    return request_id


def request_context_enter(meta: Mapping[str, Any]) -> str:
    """`request_context_begin` for a request known only by its META (its WSGI environ)."""
    request_id = request_id_accept(meta.get("HTTP_X_REQUEST_ID"))
    _request_id.set(request_id)
    _request_span.set(current_span_ids())
    return request_id


def request_context_clear(**kwargs: Any) -> None:
    _request_id.set(None)
    _request_span.set(None)


def _no_span() -> tuple[str | None, str | None]:
    return None, None


def _otel_span() -> tuple[str | None, str | None]:
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


# Swapped for _otel_span by config.telemetry when tracing starts: with tracing off a log line
# costs no OpenTelemetry import or lookup.
current_span_ids: Callable[[], tuple[str | None, str | None]] = _no_span


def trace_ids_enable() -> None:
    """Put the current span's trace and span id on log records (tracing is on)."""
    global current_span_ids
    current_span_ids = _otel_span


class LogContext(logging.Filter):
    """Put the request id and the current trace and span id on the record; on every handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        if not hasattr(record, "trace_id"):
            trace_id, span_id = current_span_ids()
            if trace_id is None:
                trace_id, span_id = _request_span.get() or (None, None)
            record.trace_id, record.span_id = trace_id, span_id
        return True


class JsonFormatter(logging.Formatter):
    """Format a log record as one JSON object per line, for log shippers.

    time, level, logger, message, request_id, trace_id, span_id, and exception when there is
    one; the ids are null where no request, task or span is current (and with no LogContext
    filter on the handler).
    """

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
        }
        if record.exc_info or record.exc_text:
            data["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(data, default=str)
