from django.urls import path

from apps.store import views, webhooks

app_name = "store"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("plugins/<slug:slug>/", views.product_detail, name="product"),
    path("cart/", views.cart_show, name="cart"),
    path("cart/add/", views.cart_add, name="cart-add"),
    path("cart/remove/", views.cart_remove, name="cart-remove"),
    path("cart/coupon/", views.cart_coupon, name="cart-coupon"),
    path("checkout/", views.checkout, name="checkout"),
    path("renew/<str:token>/", views.renewal_link, name="renew"),
    path("orders/<str:number>/", views.order_confirmation, name="order"),
    path("store/webhooks/stripe/", webhooks.stripe_webhook, name="stripe-webhook"),
]
