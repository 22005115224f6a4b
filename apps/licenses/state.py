"""A license's state as one plain value: what every check needs, cacheable as JSON.

The update API caches this by key hash (apps.updates.delivery.hotcache) and drops it on every
license or activation change, so a warm check never reads the database. The same
evaluation (`license_state_check`) answers from the database and from the cache, so both
paths give the same status and message.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone

from apps.licenses.models import Activation, License
from apps.licenses.rules import (
    LicenseRefused,
    license_refusal,
    no_slot_left,
    product_mismatch,
    site_deactivated,
)
from apps.licenses.sites import site_is_staging, site_normalise


@dataclass(frozen=True)
class LicenseState:
    """What a check needs to know about one license; `sites` hold only slot-using sites."""

    license_id: int
    key_hash: str
    product_id: int
    product_name: str
    status: str
    expires_at: datetime | None
    activation_limit: int
    sites: tuple[str, ...]
    staging_sites: tuple[str, ...]
    customer_name: str
    customer_email: str
    price_id: int | None
    order_line_id: int | None
    # Sites deactivated by their owner or the vendor: a check from one never takes a slot back
    # by itself, or a site freed in the account would reclaim it at its next check.
    deactivated_sites: tuple[str, ...] = ()

    @property
    def site_count(self) -> int:
        return len(self.sites)

    @property
    def activations_left(self) -> int | None:
        """Free slots, or None for an unlimited license."""
        if not self.activation_limit:
            return None
        return max(0, self.activation_limit - len(self.sites))

    def is_expired(self, *, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def is_active_on(self, site: str) -> bool:
        return site in self.sites or site in self.staging_sites

    def to_json(self) -> str:
        data = self.__dict__.copy()
        data["expires_at"] = int(self.expires_at.timestamp()) if self.expires_at else None
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> LicenseState:
        data = json.loads(text)
        expires = data["expires_at"]
        data["expires_at"] = datetime.fromtimestamp(expires, tz=UTC) if expires else None
        data["sites"] = tuple(data["sites"])
        data["staging_sites"] = tuple(data["staging_sites"])
        data["deactivated_sites"] = tuple(data.get("deactivated_sites", ()))
        return cls(**data)


# (site, is_staging, is_active) of one activation, as license_states_of reads them in bulk.
ActivationRow = tuple[str, bool, bool]


def license_state_of(
    license: License, activations: Iterable[ActivationRow] | None = None
) -> LicenseState:
    """Build the state of a loaded license; its sites are read (one query) unless given."""
    if activations is None:
        activations = Activation.objects.filter(license=license).values_list(
            "site", "is_staging", "is_active"
        )
    sites: list[str] = []
    staging: list[str] = []
    deactivated: list[str] = []
    for site, is_staging, is_active in activations:
        (deactivated if not is_active else staging if is_staging else sites).append(site)
    customer = license.customer
    name = customer.get_full_name() if customer is not None else ""
    return LicenseState(
        license_id=license.pk,
        key_hash=license.key_hash,
        product_id=license.product_id,
        product_name=license.product.name,
        status=license.status,
        expires_at=license.expires_at,
        activation_limit=license.activation_limit,
        sites=tuple(sorted(sites)),
        staging_sites=tuple(sorted(staging)),
        customer_name=name,
        customer_email=license.email,
        price_id=license.price_id,
        order_line_id=license.order_line_id,
        deactivated_sites=tuple(sorted(deactivated)),
    )


def license_states_of(licenses: Iterable[License]) -> list[LicenseState]:
    """Build the states of loaded licenses with one query for all their sites."""
    licenses = list(licenses)
    rows: dict[int, list[ActivationRow]] = defaultdict(list)
    found = Activation.objects.filter(license__in=[license.pk for license in licenses])
    for license_id, site, is_staging, is_active in found.values_list(
        "license_id", "site", "is_staging", "is_active"
    ):
        rows[license_id].append((site, is_staging, is_active))
    return [license_state_of(license, rows[license.pk]) for license in licenses]


@dataclass(frozen=True)
class LicenseCheck:
    """What a check of a key for a product and site found; `status` is EDD's status string."""

    status: str
    message: str
    state: LicenseState | None = None

    @property
    def entitled(self) -> bool:
        """Whether this site may download updates (staging sites included)."""
        return self.status == "valid"


def license_state_check(
    state: LicenseState | None,
    *,
    product_id: int | None = None,
    product_name: str = "",
    site_url: str | None = None,
    now: datetime | None = None,
) -> LicenseCheck:
    """Evaluate a state for a product and site with EDD's statuses and a sentence for humans.

    `site_url=None` checks the license alone; an empty one is a site that did not say which
    it is, and cannot be matched to an activation.
    """
    if state is None:
        return LicenseCheck(
            "invalid", "This license key is not valid. Check it in your account.", None
        )
    if product_id is not None:
        mismatch = license_state_product_refusal(
            state, product_id=product_id, product_name=product_name
        )
        if mismatch is not None:
            return LicenseCheck(mismatch.code, mismatch.message, state)
    refusal = license_refusal(state, now=now)
    if refusal is not None:
        return LicenseCheck(refusal.code, refusal.message, state)
    if site_url is None:
        return LicenseCheck("valid", "This license is valid.", state)
    if not site_url.strip():
        return LicenseCheck(
            "site_inactive",
            "This site did not say which site it is, so its license cannot be matched.",
            state,
        )
    try:
        site = site_normalise(site_url)
    except ValueError as exc:
        return LicenseCheck("site_inactive", str(exc), state)
    if state.is_active_on(site):
        return LicenseCheck("valid", "This license is active on this site.", state)
    if not state.sites and not state.staging_sites:
        return LicenseCheck("inactive", "Activate this license to receive updates.", state)
    return LicenseCheck(
        "site_inactive",
        "This license is not activated for this site. Activate it in the plugin's settings.",
        state,
    )


def license_state_product_refusal(
    state: LicenseState, *, product_id: int, product_name: str
) -> LicenseRefused | None:
    """Return why `state`'s key cannot be used for product `product_id`, or None if it may.

    A key is for one product; `product_name` names the one asked for in the sentence.
    """
    if state.product_id == product_id:
        return None
    return product_mismatch(licensed=state.product_name, asked=product_name)


def license_state_slot_refusal(state: LicenseState, site: str) -> LicenseRefused | None:
    """Return why a new normalised `site` could not take a slot by `state`, or None if it may.

    The same rules as `license_activate` (free staging copies up to the cap, then the limit),
    read from the cached state, so a site at the limit is answered without touching the
    database; `license_activate` decides again under the row lock.
    """
    if site in state.deactivated_sites:
        return site_deactivated()
    if site_is_staging(site) and len(state.staging_sites) < settings.DEPOT_FREE_STAGING_SITES:
        return None
    if state.activation_limit and len(state.sites) >= state.activation_limit:
        return no_slot_left(
            used=len(state.sites),
            limit=state.activation_limit,
            staging_past_cap=site_is_staging(site),
        )
    return None
