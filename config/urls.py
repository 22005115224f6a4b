"""URLs of the web process: storefront, admin, the update API, health and metrics."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("updates/", include("apps.updates.urls")),
    path("vendor/api/v1/", include("apps.updates.urls_vendor")),
    path("", include("apps.core.urls")),
    path("account/", include("apps.account.urls")),
    path("email/", include("apps.notifications.urls")),
    path("", include("apps.store.urls")),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# A database lost outside a view (a session read in middleware) is a 503 too, see
# apps.core.outage; any other unhandled error is Django's 500.
handler500 = "apps.core.views.server_error"
