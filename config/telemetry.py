"""OpenTelemetry traces for every Depot process, configured only by the standard OTEL_* variables.

Tracing is on when the environment names where spans go: `OTEL_TRACES_EXPORTER` (`otlp`,
`console`, or both, comma-separated) or an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`). `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`
turn it off whatever else is set. Unset, nothing of OpenTelemetry's SDK is imported and no
request, query or task pays for it. Everything else is the SDK's own reading of the standard
variables: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG),
OTEL_BSP_* (batching), OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout, compression), and the
instrumentations' OTEL_PYTHON_* (OTEL_PYTHON_DJANGO_EXCLUDED_URLS; probes and /metrics are
left out unless it says otherwise).

Set up once per process, after any fork, because the batching span processor runs a thread:
config/wsgi.py in each gunicorn or granian worker (neither preloads the app, so workers import
it after the fork), config/celery_app.py in each Celery pool process.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

logger = logging.getLogger(__name__)

# The exporters this image ships; the OTLP one speaks http/protobuf (OTLP's default, port 4318).
_OTLP_NAMES = frozenset({"otlp", "otlp_proto_http"})
# Liveness and readiness probes and the Prometheus scrape would be most of the traces.
_EXCLUDED_URLS = "healthz,readyz,metrics"

_lock = threading.Lock()
_provider: TracerProvider | None = None


def tracing_wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Return whether the OTEL_* variables ask for traces (see the module docstring)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporter_names(environ)
    if exporters == ["none"]:
        return False
    return bool(
        exporters
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _exporter_names(environ: Mapping[str, str]) -> list[str]:
    raw = environ.get("OTEL_TRACES_EXPORTER", "")
    return [name.strip().lower() for name in raw.split(",") if name.strip()]


def telemetry_setup(*, service: str) -> bool:
    """Start tracing in this process if the environment asks for it (once); return whether on.

    `service` names the process (depot-web, depot-updates, depot-worker) when neither
    OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES does.
    """
    global _provider
    with _lock:
        if _provider is not None:
            return True
        if not tracing_wanted():
            return False
        from opentelemetry import trace
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider

        resource = Resource.create()
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: service}))
        provider = TracerProvider(resource=resource)  # OTEL_TRACES_SAMPLER is read here
        for processor in _processors():
            provider.add_span_processor(processor)
        trace.set_tracer_provider(provider)
        instrument(tracer_provider=provider)
        _provider = provider
        logger.info("tracing on: %s", resource.attributes.get(SERVICE_NAME))
        return True


def _processors() -> list[SpanProcessor]:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    names = _exporter_names(os.environ) or ["otlp"]
    processors: list[SpanProcessor] = []
    for name in names:
        if name in _OTLP_NAMES:
            protocol = os.environ.get(
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            )
            if protocol and protocol != "http/protobuf":
                logger.warning("OTLP protocol %r is not installed; sending http/protobuf", protocol)
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processors.append(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            processors.append(BatchSpanProcessor(ConsoleSpanExporter()))
        elif name != "none":
            logger.warning("unknown OTEL_TRACES_EXPORTER %r ignored (otlp, console, none)", name)
    return processors


def instrument(*, tracer_provider: TracerProvider) -> None:
    """Trace Django requests, Celery tasks (sent and run), Redis, MySQL queries and botocore.

    Before Django's handler loads its middleware: the Django instrumentation adds its own.
    """
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.mysqlclient import MySQLClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    from apps.core.logging import trace_ids_enable

    excluded = os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS") or os.environ.get(
        "OTEL_PYTHON_EXCLUDED_URLS", _EXCLUDED_URLS
    )
    DjangoInstrumentor().instrument(tracer_provider=tracer_provider, excluded_urls=excluded)
    CeleryInstrumentor().instrument(tracer_provider=tracer_provider)
    RedisInstrumentor().instrument(tracer_provider=tracer_provider)
    MySQLClientInstrumentor().instrument(tracer_provider=tracer_provider)
    BotocoreInstrumentor().instrument(tracer_provider=tracer_provider)
    trace_ids_enable()


def uninstrument() -> None:
    """Undo `instrument` (for the tests, which trace one test's process and then stop)."""
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.mysqlclient import MySQLClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    for instrumentor in (
        DjangoInstrumentor(),
        CeleryInstrumentor(),
        RedisInstrumentor(),
        MySQLClientInstrumentor(),
        BotocoreInstrumentor(),
    ):
        instrumentor.uninstrument()


def telemetry_flush(timeout_millis: int = 5000) -> None:
    """Export the spans still batched in this process (before a pool process exits)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis)
