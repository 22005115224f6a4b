"""URLs of the dedicated updates process: only /updates/, health and metrics."""

from django.urls import include, path

from apps.updates.api.edd import updates_root

urlpatterns = [
    # EDD's updater posts to the store's root; on a dedicated updates host that is here.
    path("", updates_root, name="updates-root"),
    path("updates/", include("apps.updates.urls")),
    path("", include("apps.core.urls")),
]

# A database lost outside a view (a session read in middleware) is a 503 too, see
# apps.core.outage; any other unhandled error is Django's 500.
handler500 = "apps.core.views.server_error"
