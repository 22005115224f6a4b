from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, str]:
    """Give templates the store's name (DEPOT_SITE_NAME)."""
    return {"site_name": settings.DEPOT_SITE_NAME}
