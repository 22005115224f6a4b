"""Secrets in URLs (license keys, download and reset tokens, ?key=) never reach a log line."""

import io
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connections

from apps.core.logging import RedactSecrets
from apps.licenses.keys import key_generate
from tests.core.test_roles import _run
from tests.helpers import Gunicorn, gunicorn_start

EDD_SECRET = "edd-license-not-for-logs-7f3a"
TOKEN = "eyJsIjoxLCJyIjoyfQ:1tXyZa:S1gnatureNotForLogs_0123456789abcdef"
RESET_TOKEN = "cz9k2q-0123456789abcdef0123456789abcdef"
ORDER_KEY = "order-access-key-not-for-logs-91c2"


def _secret_urls(license_key: str) -> list[str]:
    return [
        f"/updates/puc/formwell/?license_key={license_key}&installed_version=1.0.0",
        f"/updates/edd/?edd_action=check_license&license={EDD_SECRET}&item_name=Formwell",
        f"/updates/edd/?edd_action=get_version&products%5Bformwell%5D%5Blicense%5D={EDD_SECRET}",
        f"/updates/download/{TOKEN}/formwell-2.4.1.zip",
        f"/orders/D-1000/?key={ORDER_KEY}",
        f"/account/password/MQ/{RESET_TOKEN}/",
    ]


def _secrets(license_key: str) -> list[str]:
    return [license_key, EDD_SECRET, TOKEN, RESET_TOKEN, ORDER_KEY]


def _get(port: int, url: str, headers: dict[str, str] | None = None) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", url, headers={"Host": "127.0.0.1", **(headers or {})})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _lines_once_written(path: Path, count: int) -> list[str]:
    # gunicorn writes a request's line just after its response: wait for the last one.
    deadline = time.monotonic() + 10
    lines = path.read_text().splitlines()
    while len(lines) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        lines = path.read_text().splitlines()
    return lines


@pytest.fixture
def gunicorn_server(db: None, tmp_path: Path) -> Iterator[Callable[[str], tuple[int, Path, Path]]]:
    """Return a starter of gunicorn with a role's config (one worker, test settings)."""
    started: list[Gunicorn] = []

    def start(conf: str) -> tuple[int, Path, Path]:
        access_log, error_log = tmp_path / f"{conf}-access.log", tmp_path / f"{conf}-stderr.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DEPOT_TEST_SERVICES": "real",
            "DEPOT_TEST_DB_NAME": connections["default"].settings_dict["NAME"],
            "GUNICORN_ACCESS_LOG": str(access_log),
        }
        started.append(gunicorn_start(conf, env=env, log=error_log))
        return started[-1].port, access_log, error_log

    yield start
    for server in started:
        server.stop(grace=20)


@pytest.mark.real_services
@pytest.mark.parametrize("conf", ["web.conf.py", "updates.conf.py"])
def test_gunicorn_access_log_redacts_keys_tokens_and_order_keys(gunicorn_server, conf):
    # Given gunicorn started with the role's config and its access log written to a file
    port, access_log, error_log = gunicorn_server(conf)
    license_key = key_generate()

    # When a WordPress site, a browser and an attacker request URLs that carry secrets, and a
    # page is requested with the confirmation page as its Referer
    statuses = [_get(port, url) for url in _secret_urls(license_key)]
    statuses.append(
        _get(port, "/healthz", {"Referer": f"http://127.0.0.1/orders/D-1000/?key={ORDER_KEY}"})
    )

    # Then every request is in the access log, and no secret is
    assert all(status < 500 for status in statuses), statuses
    lines = _lines_once_written(access_log, len(statuses))
    assert len(lines) == len(statuses), lines
    text = "\n".join(lines)
    for secret in _secrets(license_key):
        assert secret not in text
    assert "license_key=[redacted]&installed_version=1.0.0" in text
    assert "license=[redacted]&item_name=Formwell" in text
    assert "%5Blicense%5D=[redacted]" in text
    assert "/updates/download/[redacted]/formwell-2.4.1.zip" in text
    assert "/orders/D-1000/?key=[redacted]" in text
    assert "/account/password/MQ/[redacted]/" in text
    # And Django's own log lines of the same requests (Not Found: /updates/download/…) too
    errors = error_log.read_text()
    assert "/updates/download/[redacted]/" in errors
    for secret in _secrets(license_key):
        assert secret not in errors


@pytest.fixture
def console_output() -> Iterator[io.StringIO]:
    """Point the handlers that settings.LOGGING installed at a buffer for one test."""
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and not type(h).__module__.startswith("_pytest")
    ]
    assert handlers, "settings.LOGGING installed no console handler"
    buffer = io.StringIO()
    saved = [h.setStream(buffer) for h in handlers]
    try:
        yield buffer
    finally:
        for handler, stream in zip(handlers, saved, strict=True):
            handler.setStream(stream)


def test_django_request_log_of_a_download_link_is_redacted(client, console_output):
    # Given a package link whose token is no good (Django logs the 4xx with its path)
    # When it is requested
    response = client.get(f"/updates/download/{TOKEN}/formwell-2.4.1.zip")

    # Then the warning is logged without the token
    assert response.status_code >= 400
    text = console_output.getvalue()
    assert "/updates/download/[redacted]/formwell-2.4.1.zip" in text
    assert TOKEN not in text


def test_log_records_with_secret_urls_are_redacted(console_output):
    # Given log records as the dev server and an error with a URL in its message write them
    license_key = key_generate()
    server = logging.getLogger("django.server")
    try:
        raise ValueError(f"could not fetch /orders/D-1000/?key={ORDER_KEY}")
    except ValueError:
        logging.getLogger("apps.store").exception("checkout failed for %s", license_key)

    # When each secret URL is logged as a request line
    for url in _secret_urls(license_key):
        server.info('"%s" %s %s', f"GET {url} HTTP/1.1", 404, 179)

    # Then the lines are there, the secrets are not
    text = console_output.getvalue()
    assert text.count("GET /") == len(_secret_urls(license_key))
    assert "checkout failed for [redacted]" in text
    assert "?key=[redacted]" in text
    for secret in _secrets(license_key):
        assert secret not in text


def test_every_configured_log_handler_carries_the_redact_filter():
    # Given the loggers as settings.LOGGING configured them (pytest's capture handlers aside)
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    handlers = {
        (logger.name, type(handler).__name__): handler
        for logger in loggers
        for handler in logger.handlers
        if not type(handler).__module__.startswith("_pytest")
        and not isinstance(handler, logging.NullHandler)
    }

    # Then each handler redacts (Django's own "django" and "django.server" handlers are gone)
    assert handlers
    unfiltered = [
        name
        for name, handler in handlers.items()
        if not any(isinstance(f, RedactSecrets) for f in handler.filters)
    ]
    assert unfiltered == []


def test_production_json_log_lines_are_redacted():
    # Given the production settings (JSON log lines on stderr)
    code = f"""
import django
django.setup()
from django.test import Client
Client().get("/updates/download/{TOKEN}/formwell-2.4.1.zip", secure=True,
             HTTP_HOST="updates.example.com")
"""
    # When a bad package link is requested on the updates role
    result = _run("config.settings.updates", code)

    # Then the warning line is JSON and carries no token
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any("/updates/download/[redacted]/" in line["message"] for line in lines), lines
    assert TOKEN not in result.stderr


@pytest.mark.parametrize("signal_name", ["after_setup_logger", "after_setup_task_logger"])
def test_celery_workers_and_beat_redact_the_handlers_they_install(signal_name: str) -> None:
    # Given: a handler as a worker's (or beat's) logging setup installs it
    import io
    import logging

    from celery import signals

    import config.celery_app  # noqa: F401  (connects the receiver)

    stream = io.StringIO()
    logger = logging.getLogger(f"depot.test.celery.{signal_name}")
    logger.handlers = [logging.StreamHandler(stream)]
    logger.propagate = False
    try:
        # When Celery announces its logger is set up, and a task logs a URL with a key
        getattr(signals, signal_name).send(
            sender=None,
            logger=logger,
            loglevel=logging.INFO,
            logfile=None,
            format="",
            colorize=False,
        )
        logger.error("GET /updates/puc/formwell/?license_key=ABCDE-FGHJK-MNPQR-STVWX-YZ012-34567")

        # Then
        assert "ABCDE-FGHJK" not in stream.getvalue()
        assert "[redacted]" in stream.getvalue()
    finally:
        logger.handlers = []
        logger.propagate = True
