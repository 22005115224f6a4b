from django.urls import path

from apps.core import views

# Shared by both URLconfs: liveness, readiness (and its detail for dashboards) and Prometheus
# metrics (for the scraper only).
urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("readyz/detail", views.readyz_detail, name="readyz-detail"),
    path("metrics", views.metrics, name="metrics"),
]
