"""The vendor API of the web process: build pipelines publish releases with a token."""

from django.urls import path

from apps.updates.publishing import vendor_api

app_name = "vendor"

urlpatterns = [
    path("releases", vendor_api.releases, name="releases"),
]
