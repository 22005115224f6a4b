"""JSON log lines carry the request id and the trace id, in a request and in the tasks it causes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client

from apps.notifications.models import EmailLog
from apps.store.models import Order
from tests.builders import buy, shop_create
from tests.conftest import Workers
from tests.core.test_log_redaction import TOKEN
from tests.core.test_roles import _run
from tests.helpers import wait_until
from tests.smtp_sink import SlowHandler, SmtpSink

HEX32 = re.compile(r"[0-9a-f]{32}")
FIELDS = {"time", "level", "logger", "message", "request_id", "trace_id", "span_id"}


def _json_lines(text: str) -> list[dict[str, object]]:
    """Every non-empty line of `text` as JSON (failing on the first line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_requests_lines_are_json_with_the_request_id_from_nginx_and_the_trace_id() -> None:
    # Given the updates role's production settings (JSON lines) with traces on the console
    code = f"""
import logging
from wsgiref.util import setup_testing_defaults

import config.wsgi
from apps.core.logging import request_id_set

environ = {{"PATH_INFO": "/updates/download/{TOKEN}/formwell-2.4.1.zip",
           "HTTP_HOST": "updates.example.com", "wsgi.url_scheme": "https",
           "HTTP_X_REQUEST_ID": "nginx-5f2b9c"}}
setup_testing_defaults(environ)
headers = {{}}
response = config.wsgi.application(environ, lambda status, h: headers.update(h))
response.close()  # as a WSGI server does once the body is sent
print("ECHO", headers["X-Request-ID"])
request_id_set("outside-1")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("apps.test").exception("failed at /updates/download/{TOKEN}/x.zip")
"""
    # When nginx sends a request with its X-Request-ID through the WSGI entry point
    result = _run("config.settings.updates", code, {"OTEL_TRACES_EXPORTER": "console"})

    # Then the id comes back, and every line on stderr is JSON with all the fields,
    assert result.returncode == 0, result.stderr
    assert "ECHO nginx-5f2b9c" in result.stdout
    lines = _json_lines(result.stderr)
    assert lines and all(set(line) >= FIELDS for line in lines), lines
    # the request's lines carry its id and the trace id of the span the console exporter wrote,
    trace_ids = set(re.findall(r'"trace_id": "0x([0-9a-f]{32})"', result.stdout))
    request = [line for line in lines if line["request_id"] == "nginx-5f2b9c"]
    assert {line["logger"] for line in request} >= {"django.request"}, lines
    assert len(trace_ids) == 1 and {line["trace_id"] for line in request} == trace_ids
    assert all(re.fullmatch(r"[0-9a-f]{16}", str(line["span_id"])) for line in request)
    # and a line with an exception has it, redacted, under "exception".
    (failed,) = [line for line in lines if line["request_id"] == "outside-1"]
    assert "ZeroDivisionError" in str(failed["exception"]) and failed["trace_id"] is None
    assert TOKEN not in result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("given", [None, "two words", "x" * 200, "line\nbreak"])
def test_a_request_without_a_usable_id_gets_a_new_one_echoed(given: str | None) -> None:
    headers = {"X-Request-ID": given} if given is not None else {}
    response = Client(headers=headers).get("/healthz")

    assert HEX32.fullmatch(response["X-Request-ID"])


@pytest.mark.real_services
def test_the_tasks_a_purchase_causes_log_json_lines_with_its_request_id(
    celery_workers: Workers,
) -> None:
    # Given a worker writing JSON lines, and a checkout that came through nginx with an id
    shop = shop_create()
    with SmtpSink(SlowHandler()) as smtp:
        worker = celery_workers.start(DEPOT_LOG_FORMAT="json", **smtp.env)
        response = buy(Client(headers={"X-Request-ID": "nginx-buy-42"}), shop.personal)
        assert response["X-Request-ID"] == "nginx-buy-42"
        order = Order.objects.get()
        # When the outbox, order_fulfil and the receipt have run
        receipt = EmailLog.objects.filter(dedupe_key=f"receipt:order:{order.pk}", status="sent")
        wait_until(receipt.exists, timeout=40)
        wait_until(lambda: "receipt_send" in _succeeded(worker.logfile), timeout=10)

    # Then every line of the worker's log is JSON, and each task's lines carry the request id
    lines = _json_lines(worker.logfile.read_text())
    assert all(set(line) >= FIELDS for line in lines)
    done = [line for line in lines if "succeeded in" in str(line["message"])]
    names = " ".join(str(line["message"]) for line in done)
    for task in ("outbox_dispatch", "order_fulfil", "receipt_send"):
        assert task in names, names
    assert {line["request_id"] for line in done} == {"nginx-buy-42"}, done


def _succeeded(logfile: Path) -> str:
    return " ".join(line for line in logfile.read_text().splitlines() if "succeeded in" in line)
