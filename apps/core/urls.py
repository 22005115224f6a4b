from django.urls import include, path

from apps.core import views

# Shared by both URLconfs: liveness, readiness and Prometheus metrics.
urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),
]
