"""Package downloads: GET /updates/download/<token>/<slug>-<version>.zip and its .sig."""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase

from apps.core.errors import DomainError, json_error
from apps.licenses.selectors import license_state_by_id, license_state_check
from apps.licenses.sites import site_from_user_agent, site_normalise
from apps.updates import metrics
from apps.updates.api.common import allow, database_guard
from apps.updates.delivery.package_tokens import ACCOUNT_SITE, DownloadRefused, download_token_read
from apps.updates.models import Release
from apps.updates.package_storage import (
    RETRY_AFTER_SECONDS,
    PackageMissing,
    StorageUnavailable,
    package_check,
    package_open,
)
from apps.updates.publishing.signing import package_signature, signing_key_from_base64

UNAVAILABLE = "Downloads are temporarily unavailable. Please try again in a few minutes."


def _refused(error: DomainError) -> HttpResponse:
    metrics.downloads.labels(error.code).inc()
    headers = {"Retry_After": str(RETRY_AFTER_SECONDS)} if error.status == 503 else {}
    response = json_error(error.code, error.message, error.status, **headers)
    # WordPress shows the reason phrase in "Download failed. …", so put the sentence there.
    response.reason_phrase = error.message.encode("ascii", "replace").decode()[:200]
    return response


def _release_for(request: HttpRequest, token: str, filename: str) -> Release:
    """Verify the token, the file name, the site and the license again; return the release."""
    grant = download_token_read(token)
    # A link from the customer account belongs to no site, so only the license is checked.
    for_account = grant.site == ACCOUNT_SITE
    # WordPress downloads with its own User-Agent, which names the site: a link copied to
    # another site is refused there.
    asking = None if for_account else site_from_user_agent(request.headers.get("User-Agent", ""))
    if asking:
        try:
            asking_site = site_normalise(asking)
        except ValueError:
            asking_site = ""
        if asking_site != grant.site:
            raise DownloadRefused(
                "This download link was issued to another site. Check for updates on this "
                "site to get its own link.",
                code="token_site_mismatch",
            )
    release = Release.objects.select_related("product").filter(pk=grant.release_id).first()
    if release is None or filename != f"{release.product.slug}-{release.version}.zip":
        raise DownloadRefused(
            "This download link does not match the file. Check for updates again in WordPress.",
            code="token_invalid",
        )
    state = license_state_by_id(license_id=grant.license_id)
    check = license_state_check(
        state,
        product_id=release.product_id,
        product_name=release.product.name,
        site_url=None if for_account else grant.site,
    )
    if not check.entitled:
        code = "license_" + check.status
        if check.status in ("inactive", "site_inactive"):
            raise DownloadRefused(
                "This license is not activated for this site any more. Activate it in the "
                "plugin's settings, then update again.",
                code=code,
            )
        raise DownloadRefused(check.message, code=code)
    if not release.zip_file:
        raise DownloadRefused("This release has no file to download.", code="no_file")
    return release


@allow("GET")
@database_guard(UNAVAILABLE)
def download(request: HttpRequest, token: str, filename: str) -> HttpResponseBase:
    """Check the token and license again, then send the zip (302 to S3, or the file)."""
    try:
        release = _release_for(request, token, filename)
        response = _package_response(release, filename)
    except (DownloadRefused, StorageUnavailable, PackageMissing) as error:
        return _refused(error)
    metrics.downloads.labels("ok").inc()
    response["Cache-Control"] = "private, no-store"
    return response


def _package_response(release: Release, filename: str) -> HttpResponseBase:
    """Redirect to the object on S3 or stream the file, once storage is known to hold it."""
    name = release.zip_file.name
    label = f"{release.product.slug} {release.version}"
    if hasattr(default_storage, "bucket_name"):
        # Signing a URL asks S3 nothing, so ask first (one HEAD): WordPress shows our sentence
        # for an outage or a lost object, but only a bare error for a dead pre-signed URL.
        package_check(name=name, label=label)
        # A pre-signed URL valid for AWS_QUERYSTRING_EXPIRE seconds (60), never cached.
        return HttpResponseRedirect(
            default_storage.url(  # type: ignore[call-arg]  # S3Storage.url takes parameters
                name,
                parameters={"ResponseContentDisposition": f'attachment; filename="{filename}"'},
            )
        )
    response = FileResponse(
        package_open(name=name, label=label), as_attachment=True, filename=filename
    )
    response["Content-Type"] = "application/zip"
    return response


@allow("GET")
@database_guard(UNAVAILABLE)
def signature(request: HttpRequest, token: str, filename: str) -> HttpResponse:
    """Answer the package's Ed25519 signature over its SHA-384 digest, base64, one per line."""
    if not settings.DEPOT_SIGNING_KEY:
        return json_error("signing_disabled", "Packages from this server are not signed.", 404)
    try:
        release = _release_for(request, token, filename)
    except DownloadRefused as error:
        return _refused(error)
    if not release.sha384:
        return json_error("no_digest", "This release has no recorded digest to sign.", 404)
    key = signing_key_from_base64(settings.DEPOT_SIGNING_KEY)
    body = package_signature(key, bytes.fromhex(release.sha384)) + "\n"
    response = HttpResponse(body, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response
