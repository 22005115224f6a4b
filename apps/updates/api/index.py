from django.http import HttpRequest, JsonResponse

from apps.core.errors import json_error
from apps.updates.api.common import allow


@allow("GET")
def index(request: HttpRequest) -> JsonResponse:
    """Describe the update API to a human or a client that lands on /updates/."""
    return JsonResponse(
        {
            "service": "depot-updates",
            "api": {
                "puc": "/updates/puc/<slug>/",
                "edd": "/updates/edd/?edd_action=get_version|check_license|…",
                "check": "POST /updates/v1/check",
                "licenses": "POST /updates/v1/licenses/{activate,deactivate,check}",
                "openapi": "/updates/openapi.json",
                "health": "/healthz",
                "readiness": "/readyz",
                "metrics": "/metrics",
            },
        }
    )


def not_found(request: HttpRequest, rest: str) -> JsonResponse:
    """Answer any other path under /updates/ with a JSON 404, like every error here."""
    return json_error("not_found", "There is no such endpoint; see /updates/openapi.json.", 404)
