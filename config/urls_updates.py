"""URLs of the dedicated updates process: only /updates/, health and metrics."""

from django.urls import include, path

from apps.updates.api.edd import updates_root

urlpatterns = [
    # EDD's updater posts to the store's root; on a dedicated updates host that is here.
    path("", updates_root, name="updates-root"),
    path("updates/", include("apps.updates.urls")),
    path("", include("apps.core.urls")),
]
