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
