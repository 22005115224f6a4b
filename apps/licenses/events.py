from dataclasses import dataclass

from apps.core.events import Event


@dataclass(frozen=True)
class LicenseIssued(Event):
    license_id: int


@dataclass(frozen=True)
class LicenseRevoked(Event):
    license_id: int


@dataclass(frozen=True)
class LicenseRenewed(Event):
    """A renewal moved the expiry on (outgoing webhooks announce it)."""

    license_id: int


@dataclass(frozen=True)
class LicenseUpgraded(Event):
    """A paid upgrade moved the license to another tier (published by the store's fulfilment:
    only the order line tells an upgrade from a refund putting the old tier back)."""

    license_id: int


@dataclass(frozen=True)
class ActivationCreated(Event):
    """A site was activated (or activated again after a deactivation)."""

    license_id: int
    site: str


@dataclass(frozen=True)
class ActivationRemoved(Event):
    """A site stopped using a slot: deactivated, reset or deleted."""

    license_id: int
    site: str


@dataclass(frozen=True)
class LicenseExpiring(Event):
    """A renewal reminder stage came: `stage` days before the expiry (negative: after it)."""

    license_id: int
    stage: int = 0


@dataclass(frozen=True)
class LicenseChanged(Event):
    """Any change that alters what a check answers (cached license state is dropped on it)."""

    license_id: int


@dataclass(frozen=True)
class ProductChanged(Event):
    """A product's name, details or artwork changed (cached update metadata is renewed)."""

    product_id: int
    slug: str
