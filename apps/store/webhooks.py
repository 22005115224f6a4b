"""Stripe's webhook (being written)."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"code": "not_configured", "message": "Stripe is not set up."}, status=503)
