from dataclasses import dataclass

from apps.core.events import Event


@dataclass(frozen=True)
class ReleasePublished(Event):
    release_id: int
