"""Domain events: frozen dataclasses, published after commit to the subscribers of other apps.

An app announces a change with `publish(OrderPaid(order_id=…))` inside its service's
transaction; subscribers run only once that transaction commits (never for a rolled-back
change), each on its own so one failing subscriber does not silence the rest. Subscribers
only enqueue tasks. `publish_durable()` also writes the event to the outbox table, so it
survives a broker outage or a killed process (see apps.core.outbox).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from django.db import transaction

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Event:
    """Base of every domain event; subclasses are frozen dataclasses of ids, past tense."""

    registry: ClassVar[dict[str, type[Event]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Event.registry[cls.event_name()] = cls

    @classmethod
    def event_name(cls) -> str:
        """Return the stable name stored in the outbox, e.g. ``store.OrderPaid``."""
        app = cls.__module__.split(".")[1] if cls.__module__.startswith("apps.") else cls.__module__
        return f"{app}.{cls.__qualname__}"

    def payload(self) -> dict[str, Any]:
        """Return the event's fields as JSON-ready data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_payload(cls, name: str, payload: dict[str, Any]) -> Event:
        """Rebuild an event from its outbox name and payload."""
        if name not in cls.registry:
            # A worker may not have imported the publishing app's events module yet.
            app = name.partition(".")[0]
            with contextlib.suppress(ImportError):
                importlib.import_module(f"apps.{app}.events")
        try:
            event_cls = cls.registry[name]
        except KeyError:
            raise LookupError(f"unknown event {name!r}") from None
        return event_cls(**payload)


E = TypeVar("E", bound=Event)
Subscriber = Callable[[Any], None]

_subscribers: defaultdict[type[Event], list[Subscriber]] = defaultdict(list)


def subscriber(event_type: type[E]) -> Callable[[Callable[[E], None]], Callable[[E], None]]:
    """Register the decorated function to run after commit whenever `event_type` is published."""

    def register(func: Callable[[E], None]) -> Callable[[E], None]:
        if func not in _subscribers[event_type]:
            _subscribers[event_type].append(func)
        return func

    return register


def subscribers_of(event_type: type[Event]) -> list[Subscriber]:
    """Return the functions subscribed to `event_type`, in registration order."""
    return list(_subscribers.get(event_type, ()))


def unsubscribe(event_type: type[Event], func: Subscriber) -> None:
    """Remove a subscriber (for tests that register their own)."""
    if func in _subscribers.get(event_type, ()):
        _subscribers[event_type].remove(func)


def deliver(event: Event) -> None:
    """Run every subscriber of `event` now; a failing one is logged and re-raised last."""
    failures: list[BaseException] = []
    for func in subscribers_of(type(event)):
        try:
            func(event)
        except Exception as exc:
            logger.exception("subscriber %s failed for %s", func.__qualname__, event)
            failures.append(exc)
    if failures:
        raise failures[0]


def publish(event: Event, *, using: str | None = None) -> None:
    """Run the subscribers of `event` once the current transaction commits (at once outside one)."""
    for func in subscribers_of(type(event)):
        transaction.on_commit(_bound(func, event), using=using, robust=True)


def _bound(func: Subscriber, event: Event) -> Callable[[], None]:
    def run() -> None:
        func(event)

    # Django names the callback when it logs a robust on_commit failure.
    run.__qualname__ = getattr(func, "__qualname__", repr(func))
    return run


def publish_durable(event: Event, *, using: str | None = None) -> None:
    """Write `event` to the outbox in the current transaction and deliver it through Celery.

    An event nobody subscribes to writes nothing: an outbox row and a task delivering to no
    one would cost a write, a broker message and a worker run per license for no effect.
    Subscribers register when the apps load, in every process that publishes.
    """
    from apps.core.outbox import outbox_record

    if not subscribers_of(type(event)):
        return
    outbox_record(event=event, using=using)
