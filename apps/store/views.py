"""Storefront pages: catalogue, plugin page, cart, checkout and the order confirmation."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from apps.core import throttle
from apps.licenses import selectors as license_selectors
from apps.store import selectors, services
from apps.store.cart import Cart, PricedCart
from apps.store.forms import CartAddForm, CheckoutForm, CouponForm, checkout_token_new
from apps.store.gateways import GatewayUnavailable, gateway_get
from apps.store.models import Order, OrderLine
from apps.store.pricing import CouponRefused, tier_on_sale

ORDERS_SESSION_KEY = "depot_orders"


@require_safe
def catalogue(request: HttpRequest) -> HttpResponse:
    """Show every plugin on sale with its price tiers."""
    return render(
        request, "store/catalogue.html", {"products": list(selectors.catalogue_products())}
    )


@require_safe
def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Show one plugin: description, screenshots, the latest changelog and its tiers."""
    product = selectors.product_for_store(slug=slug)
    if product is None:
        raise Http404("No plugin is sold under this name.")
    return render(request, "store/product.html", {"product": product})


def _user(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


@require_safe
def cart_show(request: HttpRequest) -> HttpResponse:
    """Show the cart with prices, the coupon and what was dropped since."""
    priced = Cart(request.session).priced(user=_user(request))
    for problem in priced.problems:
        messages.warning(request, problem)
    return render(
        request,
        "store/cart.html",
        {"cart": priced, "coupon_form": CouponForm(initial={"code": priced.coupon_code})},
    )


@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    """Put a tier in the cart (a new license)."""
    form = CartAddForm(request.POST)
    tier = selectors.tier_by_id(tier_id=form.cleaned_data["tier"]) if form.is_valid() else None
    if tier is None or not tier_on_sale(tier):
        messages.error(request, "This price is not on sale any more. Choose another.")
        return redirect("store:catalogue")
    Cart(request.session).add(tier_id=tier.pk, kind=OrderLine.Kind.NEW)
    messages.success(request, f"{tier.product.name} ({tier.name}) is in your cart.")
    return redirect("store:cart")


@require_POST
def cart_remove(request: HttpRequest) -> HttpResponse:
    """Take one line out of the cart."""
    index = request.POST.get("index", "")
    if index.isascii() and index.isdigit():
        Cart(request.session).remove(index=int(index))
    return redirect("store:cart")


@require_POST
def cart_coupon(request: HttpRequest) -> HttpResponse:
    """Apply (or, with an empty code, remove) a coupon code; refused codes are throttled."""
    form = CouponForm(request.POST)
    code = form.cleaned_data["code"] if form.is_valid() else ""
    # Only refused codes count, per address: a buyer with a real code is never held up, and
    # a guesser gets DEPOT_COUPON_FAILURE_RATE tries, however many sessions it opens.
    rate: str = settings.DEPOT_COUPON_FAILURE_RATE
    wait = code and throttle.throttle_wait(request, group="coupon", rate=rate, count=False)
    if wait:
        messages.error(
            request, f"Too many coupon codes tried; try again in {throttle.minutes(wait)}."
        )
        return redirect("store:cart")
    cart = Cart(request.session)
    cart.coupon_set(code)
    if code:
        priced = cart.priced(user=_user(request))
        if priced.coupon_error is not None:
            throttle.throttle_count(request, group="coupon", rate=rate)
            messages.error(request, priced.coupon_error.message)
            cart.coupon_set("")
        else:
            messages.success(request, f"Coupon {cart.coupon_code} applied.")
    return redirect("store:cart")


@require_safe
def renewal_link(request: HttpRequest, token: str) -> HttpResponse:
    """Open a reminder's one-click renewal: the renewal goes in the cart, then the checkout."""
    try:
        license_id = selectors.renewal_link_license_id(token=token)
    except selectors.RenewalLinkInvalid:
        return _renewal_link_refused(
            request,
            "This renewal link has expired or is not valid",
            "Renewal links work for a few weeks after the reminder was sent.",
        )
    license = license_selectors.licenses_by_ids(license_ids=[license_id]).get(license_id)
    offer = selectors.renewal_offer_of(license=license) if license is not None else None
    if license is None or offer is None:
        return _renewal_link_refused(
            request,
            "This license cannot be renewed here",
            "It is a lifetime license, was revoked or refunded, or its plan is no longer sold. "
            "Contact us if you want to keep it.",
        )
    Cart(request.session).renewal_from_link(tier_id=offer.tier.pk, license_id=license.pk)
    messages.success(
        request, f"The renewal of your {license.product.name} license is in your cart."
    )
    return redirect("store:checkout")


def _renewal_link_refused(request: HttpRequest, heading: str, reason: str) -> HttpResponse:
    return render(
        request, "store/renewal_link.html", {"heading": heading, "reason": reason}, status=400
    )


def _checkout_page(
    request: HttpRequest, *, form: CheckoutForm, cart: PricedCart, status: int = 200
) -> HttpResponse:
    gateway = gateway_get()
    return render(
        request,
        "store/checkout.html",
        {"form": form, "cart": cart, "gateway": gateway},
        status=status,
    )


@require_http_methods(["GET", "HEAD", "POST"])
def checkout(request: HttpRequest) -> HttpResponse:
    """Take the buyer's details and payment; one order per form, however often it is sent."""
    gateway = gateway_get()
    cart_store = Cart(request.session)
    user = _user(request)
    cart = cart_store.priced(user=user)
    if request.method != "POST":
        if cart.is_empty:
            messages.info(request, "Your cart is empty: choose a plugin first.")
            return redirect("store:cart")
        initial = {"checkout_token": checkout_token_new()}
        if user is not None:
            initial.update({"email": user.email, "name": user.get_full_name()})
        return _checkout_page(
            request, form=CheckoutForm(initial=initial, card=gateway.takes_card_details), cart=cart
        )
    form = CheckoutForm(request.POST, card=gateway.takes_card_details)
    if not form.is_valid():
        return _checkout_page(request, form=form, cart=cart, status=400)
    data = form.cleaned_data
    try:
        placed = services.checkout_place(
            checkout_token=data["checkout_token"],
            cart=cart,
            email=user.email if user is not None and user.email else data["email"],
            name=data["name"],
            country=data["country"],
            user=user,
        )
    except (services.CheckoutRefused, CouponRefused) as refused:
        form.add_error(None, refused.message)
        return _checkout_page(request, form=form, cart=cart, status=400)
    order = placed.order
    _remember(request, order)
    confirmation = request.build_absolute_uri(_confirmation_url(order))
    try:
        outcome = services.order_pay(order_id=order.pk, card=form.card(), return_url=confirmation)
    except GatewayUnavailable as unavailable:
        form.add_error(None, f"{unavailable.message} Nothing was charged; please try again.")
        return _checkout_page(request, form=form, cart=cart, status=503)
    if outcome.declined is not None:
        form.add_error(None, outcome.declined.message)
        return _checkout_page(request, form=form, cart=cart, status=402)
    if outcome.order.status == Order.Status.FAILED:
        # A twin submission of this form, whose card was declined while this one waited.
        form.add_error(None, "The payment did not go through. Check the card and try again.")
        return _checkout_page(request, form=form, cart=cart, status=402)
    if outcome.redirect_url:
        return HttpResponseRedirect(outcome.redirect_url, status=303)
    cart_store.clear()
    return HttpResponseRedirect(_confirmation_url(order), status=303)


def _confirmation_url(order: Order) -> str:
    return f"{reverse('store:order', args=[order.number])}?key={order.access_key}"


def _remember(request: HttpRequest, order: Order) -> None:
    numbers = list(request.session.get(ORDERS_SESSION_KEY, []))
    if order.number not in numbers:
        request.session[ORDERS_SESSION_KEY] = [*numbers[-19:], order.number]


def _may_see(request: HttpRequest, order: Order) -> bool:
    if order.customer_id is not None and order.customer_id == request.user.pk:
        return True
    if order.number in request.session.get(ORDERS_SESSION_KEY, []):
        return True
    key = request.GET.get("key", "")
    return bool(order.access_key) and secrets.compare_digest(
        key.encode(), order.access_key.encode()
    )


@require_safe
def order_confirmation(request: HttpRequest, number: str) -> HttpResponse:
    """Show the order at once; the keys appear as soon as the worker has issued them."""
    order = selectors.order_with_access(number=number)
    if order is None or not _may_see(request, order):
        raise Http404("No such order.")
    lines = selectors.order_lines_with_licenses(order=order)
    keys = {
        view.line.pk: license_selectors.license_key_reveal(license=view.license)
        for view in lines
        if view.license is not None
        and view.line.kind == OrderLine.Kind.NEW
        and order.status == Order.Status.PAID
    }
    waiting = order.status == Order.Status.PENDING or (
        order.status == Order.Status.PAID and order.fulfilled_at is None
    )
    return render(
        request,
        "store/confirmation.html",
        {
            "order": order,
            "lines": [(view, keys.get(view.line.pk, "")) for view in lines],
            "waiting": waiting,
        },
    )
