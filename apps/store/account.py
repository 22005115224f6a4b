"""Views of the customer account (being written)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    """Show the customer's orders and licenses."""
    return render(request, "store/account/overview.html", {})
