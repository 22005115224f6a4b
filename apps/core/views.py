import os
import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from apps.core.errors import json_error
from apps.core.health import Health, dependencies, readiness
from apps.core.metrics import scrape_time_collectors
from apps.core.outage import database_unavailable, is_connection_error


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer that the process is alive, touching no backing service."""
    return JsonResponse({"status": "ok"})


def _health_response(health: Health, *, detail: bool) -> JsonResponse:
    required = {name for group in health.require for name in group}
    body: dict[str, object] = {
        "status": "ok" if health.ready else "unavailable",
        "checks": {
            r.name: ({**r.as_dict(), "required": r.name in required} if detail else r.as_dict())
            for r in health.results
        },
    }
    if detail:
        body["require"] = health.require
    if health.down:
        body["down"] = health.down
    return JsonResponse(body, status=200 if health.ready else 503)


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Answer 200 when this role can do its job now; check only what it cannot live without."""
    return _health_response(readiness(), detail=False)


@never_cache
@require_safe
def readyz_detail(request: HttpRequest) -> JsonResponse:
    """Report every dependency, up or down, with the readiness verdict as the status."""
    return _health_response(dependencies(), detail=True)


def server_error(request: HttpRequest) -> HttpResponse:
    """Answer an unhandled error; a lost database (raised outside a view) is a 503."""
    exc = sys.exc_info()[1]
    if isinstance(exc, OperationalError | InterfaceError) and is_connection_error(exc):
        return database_unavailable(request)
    return defaults.server_error(request)


def _export() -> HttpResponse:
    # django-prometheus' export, plus the gauges read from the database now. With several
    # workers their figures are summed from PROMETHEUS_MULTIPROC_DIR; the scrape-time collectors
    # (outbox, orders, licenses, e-mails) are added to that registry as well (they read the
    # database, so every worker gives the same answer).
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in scrape_time_collectors():
            registry.register(collector)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Export the Prometheus metrics to the scraper, which names itself by a bearer token."""
    token = settings.DEPOT_METRICS_TOKEN
    if not token:
        if settings.DEPOT_METRICS_REQUIRE_TOKEN:
            # Production without a token: as if there were no metrics at all.
            return json_error("not_found", "Nothing here.", 404)
        return _export()
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not constant_time_compare(presented.strip(), token):
        return json_error(
            "unauthorized",
            "Metrics are for the scraper: send Authorization: Bearer <token>.",
            401,
            WWW_Authenticate='Bearer realm="metrics"',
        )
    return _export()
