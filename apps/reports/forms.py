"""The date range every report page takes from its query string."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils import timezone

DEFAULT_DAYS = 30
# A year and a day: enough for year-on-year, small enough that a page stays one screen of
# charts and its queries stay cheap on the replica.
MAX_DAYS = 366


def default_range(*, today: date | None = None) -> tuple[date, date]:
    """Return the last DEFAULT_DAYS UTC days, today included."""
    today = today or timezone.now().date()
    return today - timedelta(days=DEFAULT_DAYS - 1), today


class DateRangeForm(forms.Form):
    """`start` and `end` (inclusive, UTC days, YYYY-MM-DD); either may be left out."""

    start = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    end = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    # The installs report's product (a slug); the other reports ignore it.
    product = forms.SlugField(required=False, max_length=100)

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        end = cleaned.get("end") or default_range()[1]
        start = cleaned.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("The start date must not be after the end date.")
        if (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    def range(self) -> tuple[date, date]:
        """Return the valid range asked for, or the default one when the form is invalid."""
        if self.is_valid():
            return self.cleaned_data["start"], self.cleaned_data["end"]
        return default_range()
