"""A real SMTP server for tests (aiosmtpd), with a switch that makes it slow to answer."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.helpers import free_port


@dataclass
class SlowHandler:
    """Accepts every message; sleeps `rcpt_delay` seconds before answering RCPT TO.

    Sleeping before RCPT (not after DATA) leaves the message undelivered if the client dies
    during the wait, as with a real server that has not been handed the message yet.
    """

    rcpt_delay: float = 0.0
    messages: list[Message] = field(default_factory=list)
    waiting: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        import asyncio

        if self.rcpt_delay:
            self.waiting.set()
            await asyncio.sleep(self.rcpt_delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, handler: SlowHandler) -> None:
        self.port = free_port()
        self.handler = handler
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def env(self) -> dict[str, str]:
        """Environment that points a worker process's e-mail at this server."""
        return {
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.port),
        }

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self.handler.messages) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return list(self.handler.messages)
