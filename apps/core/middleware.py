"""Response headers that depend on which page is answered."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

# Pages that show a license key, a download link or an order: the confirmation
# (/orders/<number>/?key=…) and every account page (licenses with the key revealed, orders,
# downloads, the password-reset links).
NO_STORE_PREFIXES = ("/orders/", "/account/")


class NoStoreKeyPagesMiddleware:
    """Send `Cache-Control: no-store` on pages that show a key, so no cache keeps a copy."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path_info.startswith(NO_STORE_PREFIXES):
            add_never_cache_headers(response)
        return response
