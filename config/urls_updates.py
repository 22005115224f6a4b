"""URLs of the dedicated updates process: only /updates/, health and metrics."""

from django.urls import include, path

urlpatterns = [
    path("updates/", include("apps.updates.urls")),
    path("", include("apps.core.urls")),
]
