"""Vendor API: a build pipeline uploads a plugin zip with a publish token.

    curl -H "Authorization: Bearer $DEPOT_TOKEN" -F zip=@formwell-2.5.0.zip \
         -F channel=beta -F rollout=25 https://shop.example.com/vendor/api/v1/releases

Served by the web process only (config/urls.py); the updates hosts never see it.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from apps.core.errors import DomainError, json_error
from apps.updates import selectors, services
from apps.updates.models import PublishToken
from apps.updates.package_storage import RETRY_AFTER_SECONDS
from apps.updates.publishing.zip_read import MAX_ZIP_BYTES

# Room for the multipart boundaries and the small text fields around the zip.
MAX_BODY_BYTES = MAX_ZIP_BYTES + 64 * 1024


def _unauthorized(message: str, *, presented: bool) -> JsonResponse:
    # RFC 6750: say which scheme is expected, and that a presented token was refused.
    challenge = 'Bearer realm="depot"'
    if presented:
        challenge += ', error="invalid_token"'
    return json_error("unauthorized", message, 401, WWW_Authenticate=challenge)


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@csrf_exempt  # authenticated by a bearer token, never by a cookie
def releases(request: HttpRequest) -> JsonResponse:
    """Publish the uploaded plugin zip as a release; answer 201 with what was published."""
    if request.method != "POST":
        return json_error("method_not_allowed", "Upload a release with POST.", 405, Allow="POST")
    secret = _bearer(request)
    if secret is None:
        return _unauthorized(
            "Send a publish token as 'Authorization: Bearer <token>'. An admin creates one in "
            "the admin under Publish tokens, or with `manage.py publish_token`.",
            presented=False,
        )
    token = selectors.publish_token_by_secret(token=secret)
    if token is None:
        return _unauthorized(
            "This publish token is unknown or disabled. Check the secret in your pipeline, "
            "or ask an admin for a new token.",
            presented=True,
        )
    services.publish_token_touch(token=token)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return _too_large()
    return _publish(request, token)


def _too_large() -> JsonResponse:
    return json_error(
        "too_large",
        f"The upload is larger than {MAX_ZIP_BYTES // 2**20} MB. Leave build leftovers "
        "(node_modules, tests, source maps) out of the package.",
        413,
    )


def _publish(request: HttpRequest, token: PublishToken) -> JsonResponse:
    try:
        upload = request.FILES.get("zip")
        fields = request.POST
    except RequestDataTooBig:
        return _too_large()
    except (MultiPartParserError, SuspiciousOperation):
        return json_error("bad_request", "Send the zip as multipart/form-data.", 400)
    if upload is None:
        return json_error(
            "missing_zip",
            "Send the plugin zip as the multipart file field 'zip', "
            "e.g. curl -F zip=@my-plugin.zip.",
            400,
        )
    if upload.size is not None and upload.size > MAX_ZIP_BYTES:
        return _too_large()
    try:
        rollout = int(fields.get("rollout", "").strip() or 100)
    except ValueError:
        return json_error(
            "invalid_rollout", "'rollout' must be a whole number from 1 to 100, e.g. 25.", 400
        )
    try:
        release = services.release_publish_by_token(
            token=token,
            zip_content=upload.read(),
            product_slug=fields.get("product", "").strip() or None,
            channel=fields.get("channel", "").strip() or "stable",
            rollout_percent=rollout,
        )
    except DomainError as exc:
        # Storage was unreachable and nothing was published: the same upload may be retried.
        retry = {"Retry_After": str(RETRY_AFTER_SECONDS)} if exc.status == 503 else {}
        return json_error(exc.code, exc.message, exc.status, **retry)
    return JsonResponse(
        {
            "product": release.product.slug,
            "version": release.version,
            "channel": release.channel,
            "rollout_percent": release.rollout_percent,
            "sha384": release.sha384,
            "size": release.size,
        },
        status=201,
    )
