from django.urls import path, re_path

from apps.updates.api import edd, index, native, openapi_view, puc
from apps.updates.api import packages as downloads

app_name = "updates"

# <token>: Django's signed value (base64url characters and colons).
_TOKEN = r"(?P<token>[A-Za-z0-9_\-:]{10,1000})"  # noqa: S105 (a pattern)
_FILE = r"(?P<filename>[a-z0-9][a-z0-9._\-]{0,150}\.zip)"

urlpatterns = [
    path("", index.index, name="index"),
    path("openapi.json", openapi_view.openapi, name="openapi"),
    path("puc/<slug:slug>/", puc.puc_metadata, name="puc"),
    path("edd/", edd.edd_endpoint, name="edd"),
    path("v1/check", native.check, name="v1-check"),
    path("v1/licenses/activate", native.license_activate_view, name="v1-license-activate"),
    path("v1/licenses/deactivate", native.license_deactivate_view, name="v1-license-deactivate"),
    path("v1/licenses/check", native.license_check_view, name="v1-license-check"),
    re_path(rf"^download/{_TOKEN}/{_FILE}$", downloads.download, name="download"),
    re_path(rf"^download/{_TOKEN}/{_FILE}\.sig$", downloads.signature, name="download-signature"),
    # Last: every other path under /updates/ answers JSON too (not Django's HTML 404).
    re_path(r"^(?P<rest>.*)$", index.not_found, name="not-found"),
]
