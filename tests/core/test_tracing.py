"""One purchase is one trace: the checkout POST, the outbox, order_fulfil and the receipt.

The test process traces with an in-memory exporter; the real worker it starts (RabbitMQ,
MariaDB, Redis) is configured only by OTEL_* variables and sends its spans over OTLP/HTTP to a
collector this test runs on 127.0.0.1, so both halves of the trace are read back and joined.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from apps.core.models import OutboxEvent
from apps.core.tasks import outbox_sweep_task
from apps.notifications.models import EmailLog
from apps.store.models import Order
from tests.builders import buy, shop_create
from tests.conftest import Workers
from tests.helpers import free_port, wait_until
from tests.services_rabbitmq import celery_app_on
from tests.smtp_sink import SlowHandler, SmtpSink

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]

DISPATCH = "run/apps.core.tasks.outbox_dispatch"
FULFIL = "run/apps.store.tasks.order_fulfil"
RECEIPT = "run/apps.notifications.tasks.receipt_send"


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    attributes: dict[str, Any]
    start: int


class Collector:
    """A minimal OTLP/HTTP trace receiver: decodes each export and keeps its spans."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                    ExportTraceServiceRequest,
                    ExportTraceServiceResponse,
                )

                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                collector.add(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, request: Any) -> None:
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: _any_value(a.value) for a in span.attributes}
                    with self.lock:
                        self.spans.append(
                            Span(
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_id=span.parent_span_id.hex() or None,
                                service=service,
                                attributes=attributes,
                                start=span.start_time_unix_nano,
                            )
                        )

    @property
    def env(self) -> dict[str, str]:
        """The standard variables that send a process's spans here, quickly."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.server.server_port}",
            "OTEL_SERVICE_NAME": "depot-worker-test",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }

    def names(self) -> list[str]:
        with self.lock:
            return [span.name for span in self.spans]


def _any_value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


@pytest.fixture
def collector() -> Iterator[Collector]:
    collector = Collector()
    collector.thread.start()
    try:
        yield collector
    finally:
        collector.server.shutdown()
        collector.server.server_close()


@pytest.fixture
def traced_here() -> Iterator[Any]:
    """Trace this process (requests, tasks sent, SQL, Redis) into an in-memory exporter."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from config.telemetry import instrument, uninstrument

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "depot-web-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(tracer_provider=provider)
    connections.close_all()  # new connections go through the traced MySQLdb.connect
    try:
        yield exporter
    finally:
        uninstrument()
        connections.close_all()


def _local(exporter: Any) -> list[Span]:
    return [
        Span(
            name=span.name,
            trace_id=format(span.context.trace_id, "032x"),
            span_id=format(span.context.span_id, "016x"),
            parent_id=format(span.parent.span_id, "016x") if span.parent else None,
            service="depot-web-test",
            attributes=dict(span.attributes or {}),
            start=span.start_time or 0,
        )
        for span in exporter.get_finished_spans()
    ]


def _delivered(order: Order) -> bool:
    return EmailLog.objects.filter(dedupe_key=f"receipt:order:{order.pk}", status="sent").exists()


def _under(spans: list[Span], root: Span) -> list[Span]:
    """The spans below `root` in its trace (children, their children, ...)."""
    children: dict[str | None, list[Span]] = {}
    for span in spans:
        children.setdefault(span.parent_id, []).append(span)
    found, todo = [], list(children.get(root.span_id, []))
    while todo:
        span = todo.pop()
        found.append(span)
        todo.extend(children.get(span.span_id, []))
    return found


def _kinds(spans: list[Span]) -> set[str]:
    return {
        str(span.attributes.get("db.system")) for span in spans if "db.system" in span.attributes
    }


def _outline(trace: list[Span]) -> str:
    """The trace as an indented tree of its non-database spans, with their SQL and Redis counts."""
    children: dict[str | None, list[Span]] = {}
    for span in sorted(trace, key=lambda span: span.start):
        children.setdefault(span.parent_id, []).append(span)
    ids = {span.span_id for span in trace}
    lines: list[str] = []

    def walk(span: Span, depth: int) -> None:
        below = children.get(span.span_id, [])
        calls = [c for c in below if "db.system" in c.attributes]
        counts = ", ".join(
            f"{sum(1 for c in calls if c.attributes['db.system'] == kind)} {kind}"
            for kind in sorted(_kinds(calls))
        )
        lines.append(
            f"{'  ' * depth}{span.name} [{span.service}]" + (f" ({counts})" if counts else "")
        )
        for child in below:
            if "db.system" not in child.attributes:
                walk(child, depth + 1)

    for root in (s for s in sorted(trace, key=lambda s: s.start) if s.parent_id not in ids):
        walk(root, 0)
    return "\n".join(lines)


def _assert_one_trace(spans: list[Span]) -> list[Span]:
    """Assert the checkout's trace holds the outbox dispatch, order_fulfil and the receipt."""
    (checkout,) = [
        s for s in spans if s.attributes.get("http.method") == "POST" and "checkout" in s.name
    ]
    trace = [s for s in spans if s.trace_id == checkout.trace_id]
    names = [s.name for s in trace]
    assert DISPATCH in names and FULFIL in names and RECEIPT in names, sorted(set(names))
    # Its SQL and Redis calls sit under the request; each task's SQL under that task.
    assert {"mysql", "redis"} <= _kinds(_under(trace, checkout)), _kinds(_under(trace, checkout))
    for name in (DISPATCH, FULFIL, RECEIPT):
        for task in (s for s in trace if s.name == name):
            assert "mysql" in _kinds(_under(trace, task)), name
    return trace


def test_one_purchase_is_one_trace_from_the_post_to_the_receipt(
    celery_workers: Workers, collector: Collector, traced_here: Any
) -> None:
    # Given a worker that sends its spans to the collector, configured by OTEL_* alone
    shop = shop_create()
    with SmtpSink(SlowHandler()) as smtp:
        celery_workers.start(**smtp.env, **collector.env)

        # When a customer pays
        response = buy(Client(), shop.personal)
        assert response.status_code == 303
        order = Order.objects.get()
        wait_until(lambda: _delivered(order), timeout=40)
        wait_until(lambda: RECEIPT in collector.names(), timeout=20)

    # Then one trace holds the request, the outbox dispatch, order_fulfil and the receipt
    trace = _assert_one_trace(_local(traced_here) + collector.spans)
    print("\n" + _outline(trace))


def test_a_purchase_swept_from_the_outbox_later_is_still_one_trace(
    celery_workers: Workers, collector: Collector, traced_here: Any
) -> None:
    # Given a checkout whose commit could not reach the broker (nothing listens there)
    shop = shop_create()
    with celery_app_on(f"amqp://guest:guest@127.0.0.1:{free_port()}//"):
        response = buy(Client(), shop.personal)
    assert response.status_code == 303
    row = OutboxEvent.objects.get(name="store.OrderPaid")
    assert row.dispatched_at is None and "traceparent" in row.trace_context

    with SmtpSink(SlowHandler()) as smtp:
        celery_workers.start(**smtp.env, **collector.env)
        # When the sweeper sends the row, from a task of its own and no request at all
        outbox_sweep_task.delay(older_than_seconds=0)
        order = Order.objects.get()
        wait_until(lambda: _delivered(order), timeout=40)
        wait_until(lambda: RECEIPT in collector.names(), timeout=20)

    # Then its delivery still joins the checkout's trace, not the sweep's
    _assert_one_trace(_local(traced_here) + collector.spans)
