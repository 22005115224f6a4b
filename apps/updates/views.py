from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe


@require_safe
def index(request: HttpRequest) -> JsonResponse:
    """Describe the update API to a human or a client that lands on /updates/."""
    return JsonResponse(
        {
            "service": "depot-updates",
            "api": {"health": "/healthz", "readiness": "/readyz", "metrics": "/metrics"},
        }
    )
