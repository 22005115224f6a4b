from __future__ import annotations

import secrets
from datetime import date

from django import forms

from apps.store.gateways.test import card_number_clean

COUNTRIES = [
    ("", "Choose your country"),
    ("AT", "Austria"), ("AU", "Australia"), ("BE", "Belgium"), ("BR", "Brazil"),
    ("CA", "Canada"), ("CH", "Switzerland"), ("CZ", "Czechia"), ("DE", "Germany"),
    ("DK", "Denmark"), ("ES", "Spain"), ("FI", "Finland"), ("FR", "France"),
    ("GB", "United Kingdom"), ("IE", "Ireland"), ("IN", "India"), ("IT", "Italy"),
    ("JP", "Japan"), ("MX", "Mexico"), ("NL", "Netherlands"), ("NO", "Norway"),
    ("NZ", "New Zealand"), ("PL", "Poland"), ("PT", "Portugal"), ("SE", "Sweden"),
    ("SG", "Singapore"), ("US", "United States"), ("ZA", "South Africa"),
]  # fmt: skip


def checkout_token_new() -> str:
    return secrets.token_urlsafe(24)


class CheckoutForm(forms.Form):
    """Who is buying, and (for the test gateway) the card; the token makes a submit count once."""

    checkout_token = forms.CharField(widget=forms.HiddenInput, min_length=16, max_length=64)
    email = forms.EmailField(label="E-mail", max_length=254)
    name = forms.CharField(label="Full name", max_length=200)
    country = forms.ChoiceField(choices=COUNTRIES)

    def __init__(self, *args: object, card: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if card:
            self.fields["card_number"] = forms.CharField(
                label="Card number",
                max_length=30,
                help_text="Test cards: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined.",
            )
            self.fields["card_expiry"] = forms.CharField(
                label="Expiry (MM/YY)", max_length=7, initial=""
            )
            self.fields["card_cvc"] = forms.CharField(label="CVC", min_length=3, max_length=4)

    def clean_card_number(self) -> str:
        number = card_number_clean(self.cleaned_data["card_number"])
        if not (number.isascii() and number.isdigit()):
            raise forms.ValidationError("Enter the card number as digits.")
        return number

    def clean_card_expiry(self) -> str:
        raw = self.cleaned_data["card_expiry"].replace(" ", "")
        month, _, year = raw.partition("/")
        if not (month.isascii() and month.isdigit() and year.isascii() and year.isdigit()):
            raise forms.ValidationError("Enter the expiry as MM/YY, for example 12/30.")
        month_n, year_n = int(month), int(year)
        year_n += 2000 if year_n < 100 else 0
        if not 1 <= month_n <= 12:
            raise forms.ValidationError("The month must be between 01 and 12.")
        today = date.today()
        if (year_n, month_n) < (today.year, today.month):
            raise forms.ValidationError("This card has expired.")
        return f"{month_n:02d}/{year_n % 100:02d}"

    def clean_card_cvc(self) -> str:
        cvc = self.cleaned_data["card_cvc"].strip()
        if not (cvc.isascii() and cvc.isdigit()):
            raise forms.ValidationError("The CVC is the 3 or 4 digits on the back of the card.")
        return cvc

    def card(self) -> dict[str, str]:
        return {
            key.removeprefix("card_"): self.cleaned_data[key]
            for key in ("card_number", "card_expiry", "card_cvc")
            if key in self.cleaned_data
        }


class CouponForm(forms.Form):
    code = forms.CharField(label="Coupon code", max_length=40, required=False)


class CartAddForm(forms.Form):
    tier = forms.IntegerField(min_value=1, max_value=2**62)
