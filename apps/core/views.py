from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_prometheus.exports import ExportToDjangoView

from apps.core.health import run_checks


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer that the process is alive, touching no backing service."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Report each backing service by name, up or down; 503 when any of them is down."""
    results = run_checks()
    ok = all(r.ok for r in results)
    body: dict[str, object] = {
        "status": "ok" if ok else "unavailable",
        "checks": {r.name: r.as_dict() for r in results},
    }
    if not ok:
        body["down"] = [r.name for r in results if not r.ok]
    return JsonResponse(body, status=200 if ok else 503)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Export the Prometheus metrics to the scraper, which names itself by a bearer token."""
    token = settings.DEPOT_METRICS_TOKEN
    if not token:
        if settings.DEPOT_METRICS_REQUIRE_TOKEN:
            # Production without a token: as if there were no metrics at all.
            return JsonResponse(
                {"code": "not_found", "message": "Nothing here."},
                status=404,
            )
        return ExportToDjangoView(request)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not constant_time_compare(presented.strip(), token):
        response = JsonResponse(
            {
                "code": "unauthorized",
                "message": "Metrics are for the scraper: send Authorization: Bearer <token>.",
            },
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return ExportToDjangoView(request)
