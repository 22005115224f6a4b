from dataclasses import dataclass

from apps.core.events import Event


@dataclass(frozen=True)
class LicenseIssued(Event):
    license_id: int


@dataclass(frozen=True)
class LicenseRevoked(Event):
    license_id: int


@dataclass(frozen=True)
class LicenseExpiring(Event):
    license_id: int


@dataclass(frozen=True)
class LicenseChanged(Event):
    """Any change that alters what a check answers (cached license state is dropped on it)."""

    license_id: int


@dataclass(frozen=True)
class ProductChanged(Event):
    """A product's name, details or artwork changed (cached update metadata is renewed)."""

    product_id: int
    slug: str
