"""The stack's SMTP sink with a delay the chaos runner can switch on (`make load` uses it).

deploy/stack/Procfile starts `python -m aiosmtpd -c $DEPOT_STACK_SMTP_HANDLER <maildir>`;
bench/load/run.py sets that to this class. Before each message it reads `<run dir>/smtp-delay`
(seconds, written and removed by bench/load/chaos.py) and waits that long before answering
DATA: a slow mail provider, as bench-checkout's SMTP server is, without restarting the sink
(honcho would stop the whole stack if the sink exited).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiosmtpd.handlers import Mailbox


class DelayedMailbox(Mailbox):
    """aiosmtpd's Maildir handler, slowed by the seconds in the run directory's smtp-delay."""

    def delay(self) -> float:
        try:
            return float((Path(self.mail_dir).parent / "smtp-delay").read_text().strip())
        except (OSError, ValueError):
            return 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        seconds = self.delay()
        if seconds > 0:
            await asyncio.sleep(seconds)
        return str(await super().handle_DATA(server, session, envelope))
