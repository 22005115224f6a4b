"""The OpenAPI 3.1 document of /updates/, served as the file in the repository."""

from __future__ import annotations

import functools
from pathlib import Path

from django.http import HttpRequest, HttpResponse

from apps.updates.api.common import allow

DOCUMENT = Path(__file__).resolve().parent.parent / "openapi.json"


@functools.cache
def _document() -> bytes:
    # Read once per process: the file changes only with a deploy.
    return DOCUMENT.read_bytes()


@allow("GET")
def openapi(request: HttpRequest) -> HttpResponse:
    """Answer the OpenAPI document describing every /updates/ endpoint."""
    response = HttpResponse(_document(), content_type="application/json")
    response["Cache-Control"] = "public, max-age=300"
    return response
