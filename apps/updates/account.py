"""The customer account's downloads page (web process only; the updates role does not route it)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from apps.updates.account_selectors import account_downloads
from apps.updates.api.common import base_url


@require_safe
@never_cache
@login_required
def downloads(request: HttpRequest) -> HttpResponse:
    """List the signed-in customer's licenses with download links to their releases."""
    # login_required ran first: the user is a saved account.
    assert isinstance(request.user, User)
    rows = account_downloads(customer_id=request.user.pk, base_url=base_url(request))
    return render(
        request,
        "updates/account_downloads.html",
        {"rows": rows, "token_hours": settings.DEPOT_DOWNLOAD_TOKEN_HOURS},
    )
