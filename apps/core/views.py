from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from apps.core.health import run_checks


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer that the process is alive, touching no backing service."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Report each backing service by name; 503 when any of them is down."""
    results = run_checks()
    ok = all(r.ok for r in results)
    body: dict[str, object] = {
        "status": "ok" if ok else "unavailable",
        "checks": {r.name: r.as_dict() for r in results},
    }
    if not ok:
        body["down"] = [r.name for r in results if not r.ok]
    return JsonResponse(body, status=200 if ok else 503)
