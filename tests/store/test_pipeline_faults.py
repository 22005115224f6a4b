"""The purchase pipeline when its parts fail for real: the broker stopped, a worker child killed.

The broker-outage test runs on a private RabbitMQ node (tests/services_rabbitmq.py), never the
shared one; the worker-kill test holds `order_fulfil` on a row lock the test takes, so the kill
lands in the middle of the task without any hook in the product code.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import MySQLdb
import pytest
from django.db import connection, connections
from django.test import Client

from apps.core.models import OutboxEvent
from apps.core.tasks import outbox_dispatch_task
from apps.licenses.models import License
from apps.notifications.models import EmailLog
from apps.store.models import Order
from tests import services_rabbitmq
from tests.builders import buy, shop_create
from tests.conftest import ROOT, Worker, Workers
from tests.helpers import wait_until
from tests.services_rabbitmq import RabbitNode, celery_app_on
from tests.smtp_sink import SlowHandler, SmtpSink

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]

PREFORK = ("--pool", "prefork", "--concurrency", "1")
rabbitmq_node = services_rabbitmq.rabbitmq_node  # one private node for this module


def _receipts(order: Order) -> list[EmailLog]:
    return list(EmailLog.objects.filter(dedupe_key=f"receipt:order:{order.pk}"))


def _delivered(order: Order) -> bool:
    return any(log.status == "sent" for log in _receipts(order))


@contextmanager
def beat_running(*, workers: Workers, logfile: Path, env: dict[str, str]) -> Iterator[Path]:
    """Run `celery beat` with the project's schedule (CELERY_BEAT_SCHEDULE); yield its log."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "info"),
            *("--logfile", str(logfile), "-s", str(logfile.with_suffix(".schedule"))),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DEPOT_TEST_SERVICES": "real",
            "DEPOT_TEST_DB_NAME": workers.db_name,
            "CELERY_DEFAULT_QUEUE": workers.queue,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            **env,
        },
    )
    try:
        wait_until(lambda: logfile.exists() and "beat: Starting" in logfile.read_text(), 30)
        yield logfile
    finally:
        process.kill()
        process.wait(timeout=10)


def _children(pid: int) -> list[int]:
    """The live child processes of `pid` (prefork's pool processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


_TASK_LINE = re.compile(r"\[([0-9a-f-]{36})\] (received|succeeded|failed|raised|retry)")


def _worker_idle(worker: Worker) -> bool:
    """Whether every task the worker received has finished (its log at level info says so)."""
    received: set[str] = set()
    finished: set[str] = set()
    for task_id, what in _TASK_LINE.findall(worker.log()):
        (received if what == "received" else finished).add(task_id)
    return received <= finished


def _drained(worker: Worker, sent: list[str]) -> None:
    """Wait until the worker has run `sent` and everything they caused, and stays idle."""
    wait_until(lambda: all(f"[{task_id}] succeeded" in worker.log() for task_id in sent), 30)
    wait_until(lambda: _idle_twice(worker), 30)


def _idle_twice(worker: Worker) -> bool:
    # A task's follow-ups are received a moment after it reports success: idle twice in a row.
    if not _worker_idle(worker):
        return False
    time.sleep(0.5)
    return _worker_idle(worker)


@contextmanager
def prefork_worker(workers: Workers, **env: str) -> Iterator[Worker]:
    """A worker as production runs it (prefork, here one child); no child outlives the test.

    Also the broker-outage test's pool: Celery 5.7's solo pool, once reconnected, reads the
    broker's socket only on its timer ticks (every 10 s without heartbeats), prefork at once.
    """
    worker = workers.start(*PREFORK, **env)
    children = set(_children(worker.process.pid))
    try:
        yield worker
    finally:
        children.update(_children(worker.process.pid))
        workers.stop_all()
        for pid in children:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_checkout_answers_while_rabbitmq_is_stopped_and_beat_delivers_everything_once_after(
    celery_workers: Workers, rabbitmq_node: RabbitNode, tmp_path: Path
) -> None:
    shop = shop_create()
    sweep = {"DEPOT_OUTBOX_SWEEP_EVERY": "1", "DEPOT_OUTBOX_SWEEP_AGE": "2"}
    with (
        SmtpSink(SlowHandler()) as smtp,
        celery_app_on(rabbitmq_node.url),
        beat_running(
            workers=celery_workers,
            logfile=tmp_path / "beat.log",
            env={**rabbitmq_node.env, **sweep},
        ) as beat_log,
        prefork_worker(celery_workers, **rabbitmq_node.env, **smtp.env) as worker,
    ):
        # Given RabbitMQ stopped, when two customers pay one after the other,
        stopped_in = rabbitmq_node.stop()
        down_at = time.monotonic()
        answers = []
        for email in ("ada@example.com", "grace@example.com"):
            started = time.monotonic()
            response = buy(Client(), shop.personal, email=email)
            answers.append((response.status_code, time.monotonic() - started))

        # then both are told their order is paid, with nothing sent yet,
        assert [status for status, _ in answers] == [303, 303]
        orders = list(Order.objects.order_by("pk"))
        assert [order.status for order in orders] == ["paid", "paid"]
        rows = OutboxEvent.objects.filter(name="store.OrderPaid")
        assert rows.count() == 2 and not rows.filter(dispatched_at__isnull=False).exists()
        assert not License.objects.exists() and not EmailLog.objects.exists()
        # and beat's sweeper tries (and fails) to re-send them while the broker is still down.
        failed = "Couldn't apply scheduled task outbox-sweep"
        failures = beat_log.read_text().count(failed)
        wait_until(lambda: beat_log.read_text().count(failed) > failures, timeout=20)
        assert not rows.filter(dispatched_at__isnull=False).exists()

        # When RabbitMQ is back, beat's next sweep sends both rows and the worker delivers them.
        back_in = rabbitmq_node.start()
        returned = time.monotonic()
        down_for = returned - down_at
        wait_until(lambda: all(_delivered(order) for order in orders), timeout=60)
        delivered_after = time.monotonic() - returned
        # A duplicated delivery of the same rows and a few more sweeps change nothing.
        sent = [outbox_dispatch_task.delay(outbox_id=row.pk).id for row in rows]
        _drained(worker, sent)
        messages = smtp.wait_for(2)

    print(
        f"\nRabbitMQ stop {stopped_in:.1f} s; checkouts with it stopped answered in "
        + ", ".join(f"{took:.2f} s" for _, took in answers)
        + f"; down ~{down_for:.1f} s; restart {back_in:.1f} s; "
        f"license and receipt {delivered_after:.1f} s after it was back"
    )
    assert License.objects.count() == 2
    for order in orders:
        assert License.objects.filter(order_line_id=order.lines.get().pk).count() == 1
        assert len(_receipts(order)) == 1
    assert sorted(message["To"] for message in messages) == ["ada@example.com", "grace@example.com"]
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()


def test_checkout_answers_while_rabbitmq_is_paused_and_the_order_arrives_once_after(
    celery_workers: Workers, rabbitmq_node: RabbitNode, tmp_path: Path
) -> None:
    shop = shop_create()
    sweep = {"DEPOT_OUTBOX_SWEEP_EVERY": "1", "DEPOT_OUTBOX_SWEEP_AGE": "2"}
    answers: list[tuple[int, float]] = []

    def pay(email: str) -> None:
        started = time.monotonic()
        try:
            response = buy(Client(), shop.personal, email=email)
            answers.append((response.status_code, time.monotonic() - started))
        finally:
            connections.close_all()

    with (
        SmtpSink(SlowHandler()) as smtp,
        celery_app_on(rabbitmq_node.url),
        beat_running(
            workers=celery_workers,
            logfile=tmp_path / "beat.log",
            env={**rabbitmq_node.env, **sweep},
        ),
        prefork_worker(celery_workers, **rabbitmq_node.env, **smtp.env) as worker,
    ):
        # Given a shop whose web process is connected to RabbitMQ (one order goes through),
        pay("ada@example.com")
        wait_until(lambda: _delivered(Order.objects.get()), timeout=30)
        # when RabbitMQ is paused (it takes connections and answers nothing) during a checkout,
        rabbitmq_node.pause()
        try:
            customer = threading.Thread(target=pay, args=("grace@example.com",), daemon=True)
            customer.start()
            customer.join(timeout=30)
            returned = not customer.is_alive()
            undelivered = OutboxEvent.objects.filter(dispatched_at__isnull=True).count()
        finally:
            rabbitmq_node.resume()
            customer.join(timeout=30)

        # then the customer is answered while it is still paused, the row waiting in the outbox,
        assert returned and [status for status, _ in answers] == [303, 303]
        assert undelivered == 1
        # and once it runs again, the order is fulfilled and its receipt sent, once.
        order = Order.objects.get(email="grace@example.com")
        wait_until(lambda: _delivered(order), timeout=60)
        sent = [
            outbox_dispatch_task.delay(outbox_id=row.pk).id
            for row in OutboxEvent.objects.filter(name="store.OrderPaid")
        ]
        _drained(worker, sent)
        messages = smtp.wait_for(2)

    print(f"\ncheckout with RabbitMQ paused answered in {answers[1][1]:.2f} s")
    assert License.objects.count() == 2
    assert len(_receipts(order)) == 1 and len(messages) == 2
    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()


class RowLock:
    """Another client holding `SELECT … FOR UPDATE` on one order row, as a slow transaction."""

    def __init__(self, *, order_id: int) -> None:
        db = connection.settings_dict
        self.db_name = db["NAME"]
        self.conn = MySQLdb.connect(
            host=db["HOST"],
            port=int(db["PORT"] or 3306),
            user=db["USER"],
            passwd=db["PASSWORD"],
            db=self.db_name,
        )
        self.conn.autocommit(False)
        self.conn.cursor().execute(
            "SELECT id FROM store_order WHERE id = %s FOR UPDATE", [order_id]
        )

    def waiters(self) -> int:
        """How many other clients wait for a lock on the orders table (order_fulfil does)."""
        cursor = self.conn.cursor()
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
            "WHERE DB = %s AND ID <> CONNECTION_ID() AND INFO LIKE %s",
            [self.db_name, "%store_order%FOR UPDATE%"],
        )
        return int(cursor.fetchone()[0])

    def release(self) -> None:
        if self.conn.open:
            self.conn.rollback()
            self.conn.close()


def test_a_prefork_child_killed_in_the_middle_of_order_fulfil_loses_and_duplicates_nothing(
    celery_workers: Workers,
) -> None:
    # Given a paid order whose tasks wait in RabbitMQ, and its row locked by another client,
    shop = shop_create()
    response = buy(Client(), shop.personal)
    assert response.status_code == 303
    order = Order.objects.get()
    lock = RowLock(order_id=order.pk)
    try:
        with SmtpSink(SlowHandler()) as smtp, prefork_worker(celery_workers, **smtp.env) as worker:
            # when the pool's child is blocked inside order_fulfil (its select_for_update)
            wait_until(lambda: lock.waiters() == 1, timeout=40)
            children = wait_until(lambda: _children(worker.process.pid), timeout=10)
            assert len(children) == 1, children
            # and is killed there while its parent lives,
            os.kill(children[0], signal.SIGKILL)
            wait_until(lambda: children[0] not in _children(worker.process.pid), timeout=10)
            assert not License.objects.exists() and not EmailLog.objects.exists()
            lock.release()

            # then the parent starts a new child, RabbitMQ hands the unacknowledged message
            # back (acks_late + reject_on_worker_lost), and everything arrives once.
            wait_until(lambda: _delivered(order), timeout=60)
            messages = smtp.wait_for(1)
            time.sleep(2)
    finally:
        lock.release()

    assert "exited with 'signal 9 (SIGKILL)'" in celery_workers.logs()
    assert License.objects.count() == 1
    assert License.objects.get().order_line_id == order.lines.get().pk
    assert len(_receipts(order)) == 1 and len(messages) == 1


def test_a_prefork_child_over_its_memory_bound_is_replaced_after_its_task(
    celery_workers: Workers,
) -> None:
    # Given a prefork worker whose children may hold 1 KiB (every child is over it)
    shop = shop_create()
    with (
        SmtpSink(SlowHandler()) as smtp,
        prefork_worker(
            celery_workers, DEPOT_WORKER_MAX_MEMORY_PER_CHILD_KB="1", **smtp.env
        ) as worker,
    ):
        first = wait_until(lambda: _children(worker.process.pid), timeout=10)
        # when a purchase's tasks run,
        assert buy(Client(), shop.personal).status_code == 303
        order = Order.objects.get()
        wait_until(lambda: _delivered(order), timeout=60)
        # then the child that ran them was replaced (Celery's worker_max_memory_per_child),
        # and the purchase was fulfilled once all the same.
        after = wait_until(
            lambda: [pid for pid in _children(worker.process.pid) if pid not in first],
            timeout=20,
        )
    assert after and set(first).isdisjoint(after)
    assert License.objects.count() == 1 and len(_receipts(order)) == 1
