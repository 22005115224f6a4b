"""The customer account: orders and licenses, sites, the key on request, renewals and upgrades.

Signing in, out and resetting a password are Django's own views (see urls_account.py) with
the two forms below; django-axes locks out repeated failed sign-ins (apps/core/signin.py), and
the reset view below throttles requests per address and per e-mail. Every license page and
action loads the license through the signed-in customer, so someone else's license id answers
404 whatever the request.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from apps.account.forms import SiteForm, TierForm
from apps.core import throttle
from apps.licenses import selectors as license_selectors
from apps.licenses import services as license_services
from apps.store import selectors as store_selectors
from apps.store.cart import Cart, LineKind
from apps.store.selectors import LicensePage
from apps.updates.selectors import account_downloads


def _reset_email_key(group: str, request: HttpRequest) -> str:
    return request.POST.get("email", "").strip().casefold()


class AccountPasswordResetView(auth_views.PasswordResetView):
    """Django's reset view, throttled per address and per e-mail against mail-bombing.

    The refusal names the address asked for, never whether it has an account: it counts
    requests, found or not, and the page for a sent link stays the same for both.
    """

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        wait = throttle.throttle_wait(
            self.request, group="password-reset-ip", rate=settings.DEPOT_PASSWORD_RESET_RATE_IP
        ) or throttle.throttle_wait(
            self.request,
            group="password-reset-email",
            rate=settings.DEPOT_PASSWORD_RESET_RATE_EMAIL,
            key=_reset_email_key,
        )
        if wait is not None:
            form.add_error(
                None,
                "Too many links were asked for; try again in "
                f"{throttle.minutes(wait)}. A link already sent works for a few days.",
            )
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = str(wait)
            return response
        return super().form_valid(form)


def _customer_id(request: HttpRequest) -> int:
    # Only called behind login_required: the user is a saved account.
    assert isinstance(request.user, User)
    return request.user.pk


def _page_or_404(request: HttpRequest, license_id: int) -> LicensePage:
    page = store_selectors.license_page(customer_id=_customer_id(request), license_id=license_id)
    if page is None:
        raise Http404("No such license in your account.")
    return page


def _license_page(request: HttpRequest, page: LicensePage, *, key: str = "") -> HttpResponse:
    return render(
        request,
        "account/license.html",
        {"page": page, "license": page.license, "key": key},
    )


@require_safe
@login_required
def overview(request: HttpRequest) -> HttpResponse:
    """Show the customer's orders and licenses."""
    overview = store_selectors.account_overview(customer_id=_customer_id(request))
    return render(request, "account/overview.html", {"overview": overview})


@require_safe
@login_required
def license_detail(request: HttpRequest, license_id: int) -> HttpResponse:
    """Show one license: sites, expiry, renewal and upgrade offers; the key stays hidden."""
    return _license_page(request, _page_or_404(request, license_id))


@require_POST
@never_cache
@login_required
def license_key(request: HttpRequest, license_id: int) -> HttpResponse:
    """Show the license page with the full key (asked for by POST, so it is never in a URL)."""
    page = _page_or_404(request, license_id)
    return _license_page(
        request, page, key=license_selectors.license_key_reveal(license=page.license)
    )


@require_POST
@login_required
def license_deactivate(request: HttpRequest, license_id: int) -> HttpResponse:
    """Free the activation of one site of the customer's license."""
    license = license_selectors.license_of_customer(
        license_id=license_id, customer_id=_customer_id(request)
    )
    if license is None:
        raise Http404("No such license in your account.")
    form = SiteForm(request.POST)
    site = form.cleaned_data["site"] if form.is_valid() else ""
    try:
        deactivated = bool(site) and license_services.license_deactivate(
            license_id=license.pk, site_url=site
        )
    except ValueError:  # not a site address at all
        deactivated = False
    if deactivated:
        messages.success(
            request,
            f"{site} was deactivated: it no longer receives updates, and its slot is free.",
        )
    else:
        messages.error(request, "That site is not active on this license; nothing was changed.")
    return redirect("account:license", license_id=license.pk)


@require_POST
@login_required
def license_renew(request: HttpRequest, license_id: int) -> HttpResponse:
    """Put a year's renewal of the license in the cart."""
    page = _page_or_404(request, license_id)
    if page.renewal is None:
        messages.error(request, page.renewal_blocked)
        return redirect("account:license", license_id=page.license.pk)
    Cart(request.session).add(
        tier_id=page.renewal.tier.pk, kind=LineKind.RENEWAL, license_id=page.license.pk
    )
    messages.success(
        request,
        f"A renewal of {page.license.product.name} …{page.license.key_hint} is in your cart.",
    )
    return redirect("store:cart")


@require_POST
@login_required
def license_upgrade(request: HttpRequest, license_id: int) -> HttpResponse:
    """Put an upgrade of the license to a higher tier in the cart."""
    page = _page_or_404(request, license_id)
    form = TierForm(request.POST)
    offer = page.upgrade_for(form.cleaned_data["tier"]) if form.is_valid() else None
    if offer is None:
        messages.error(
            request,
            page.upgrade_blocked or "That plan is not an upgrade of this license. Choose another.",
        )
        return redirect("account:license", license_id=page.license.pk)
    Cart(request.session).add(
        tier_id=offer.tier.pk, kind=LineKind.UPGRADE, license_id=page.license.pk
    )
    messages.success(
        request,
        f"An upgrade of {page.license.product.name} …{page.license.key_hint} to "
        f"{offer.tier.name} is in your cart.",
    )
    return redirect("store:cart")


@require_safe
@never_cache
@login_required
def downloads(request: HttpRequest) -> HttpResponse:
    """List the signed-in customer's licenses with download links to their releases."""
    rows = account_downloads(
        customer_id=_customer_id(request),
        request_base_url=f"{request.scheme}://{request.get_host()}",
    )
    return render(
        request,
        "account/downloads.html",
        {"rows": rows, "token_hours": settings.DEPOT_DOWNLOAD_TOKEN_HOURS},
    )
