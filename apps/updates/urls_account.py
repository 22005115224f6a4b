"""The customer account's downloads page, included by the web URLconf only."""

from django.urls import path

from apps.updates import account

urlpatterns = [
    path("", account.downloads, name="account-downloads"),
]
