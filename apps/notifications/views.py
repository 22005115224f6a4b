"""The signed unsubscribe link of renewal reminders."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.notifications import services


# CSRF-exempt: mail clients send RFC 8058's one-click POST without a form of ours, and the
# signed token is what authorises it (a forged request can only unsubscribe its own signer).
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Ask (GET) and then stop (POST) the renewal reminders of the link's address."""
    email = services.unsubscribe_email_of(token=token)
    if email is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
    done = False
    if request.method == "POST":
        # GET only asks: link scanners in mail filters open every link in a message.
        services.reminders_unsubscribe(email=email)
        done = True
    else:
        done = services.reminders_unsubscribed(email=email)
    return render(request, "notifications/unsubscribe.html", {"email": email, "done": done})
