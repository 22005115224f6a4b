from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from apps.store.selectors import catalogue_products


@require_safe
def catalogue(request: HttpRequest) -> HttpResponse:
    """Show every plugin on sale with its price tiers."""
    return render(request, "store/catalogue.html", {"products": list(catalogue_products())})
