"""A receipt the mail server accepted is never sent twice, even if the database then goes away.

The mail worker reaches MariaDB through a relay (tests/relay.py) that the SMTP server closes
the moment it accepts the receipt, and opens again four seconds later: the worker loses its
connection between "the mail server has it" and "the log says sent", as it did when
`make load-compare` restarted MariaDB under a sale (the buyer got two receipts).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.test import Client

from apps.notifications.models import EmailLog
from apps.store.models import Order
from tests.builders import buy, shop_create
from tests.conftest import Workers
from tests.helpers import wait_until
from tests.relay import Relay
from tests.smtp_sink import SlowHandler, SmtpSink

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 4.0


class DatabaseCutOnDelivery(SlowHandler):
    """Accepts each message, and cuts the worker's database as it does (the first time)."""

    def __init__(self, relay: Relay) -> None:
        super().__init__()
        self.relay = relay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if len(self.messages) == 1:
            self.relay.close()
            threading.Timer(OUTAGE_SECONDS, self.relay.open).start()
        return answer


def test_a_receipt_accepted_just_before_the_database_goes_away_is_recorded_and_not_resent(
    celery_workers: Workers,
) -> None:
    # Given a paid order whose receipt a worker will send while the database is reachable,
    shop = shop_create()
    assert buy(Client(), shop.personal).status_code == 303
    order = Order.objects.get()
    relay = Relay(("127.0.0.1", 3306))
    relay.open()
    try:
        with SmtpSink(DatabaseCutOnDelivery(relay)) as smtp:
            worker = celery_workers.start(
                DEPOT_TEST_DATABASE_URL=f"mysql://root:@127.0.0.1:{relay.port}/depot", **smtp.env
            )
            # when the database goes away right after the mail server accepted the receipt
            log = wait_until(
                lambda: EmailLog.objects.filter(
                    dedupe_key=f"receipt:order:{order.pk}", status=EmailLog.Status.SENT
                ).first(),
                timeout=60,
            )
            # (Celery's retries would have come within seconds of the database's return.)
            time.sleep(6)
            messages = list(smtp.handler.messages)
    finally:
        relay.close()

    # then the worker recorded it once the database was back, and sent nothing again.
    assert len(messages) == 1, [m["Subject"] for m in messages]
    assert log is not None and log.attempts == 1 and log.error == ""
    assert EmailLog.objects.filter(dedupe_key=f"receipt:order:{order.pk}").count() == 1
    assert "recorded as sent after" in worker.log()
