"""The lean path answers exactly what Django's full stack answers, byte for byte.

Every case of the three dialects is sent to the updates role's WSGI application as Django
builds it (its own middleware and URLs: config.settings.updates) and to the same application
wrapped in apps.updates.api.lean.LeanApplication; status line, headers (in order) and body
must be identical. Each case is sent once first, so both answers come from the same state (a
first check from a site activates it). The clock is fixed: package links carry a signed time.
"""

from __future__ import annotations

import io
import json
import re
import sys
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import DatabaseError, connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from apps.updates.api import edd, puc
from apps.updates.api.lean import LeanApplication
from config.settings.roles import UPDATES_URLCONF, updates_middleware
from tests.builders import SITE, WP_UA

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]


def _environ(method: str, path: str, *, query: str = "", body: bytes = b"", **headers: str):
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "HTTP_USER_AGENT": WP_UA,
        "HTTP_X_REQUEST_ID": "0123456789abcdef0123456789abcdef",
        "REMOTE_ADDR": "198.51.100.20",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)),
    }
    environ.update(headers)
    return environ


def _call(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen["status"], seen["headers"] = status, headers

    result = app(
        {**environ, "wsgi.input": io.BytesIO(environ["wsgi.input"].getvalue())}, start_response
    )
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return seen["status"], seen["headers"], body


def _updates_role(settings: Any, **more: Any) -> override_settings:
    """The updates role's middleware and URLs over the test settings (and `more`)."""
    return override_settings(
        MIDDLEWARE=updates_middleware(settings.MIDDLEWARE), ROOT_URLCONF=UPDATES_URLCONF, **more
    )


def _form(**fields: str) -> dict[str, Any]:
    body = urlencode(fields).encode()
    return {"body": body, "CONTENT_TYPE": "application/x-www-form-urlencoded"}


def _json(value: Any) -> dict[str, Any]:
    return {"body": json.dumps(value).encode(), "CONTENT_TYPE": "application/json"}


def _cases(key: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    puc = "/updates/puc/formwell/"
    edd = {"item_name": "Formwell", "url": SITE}
    return {
        "puc licensed": ("GET", puc, {"query": urlencode({"license_key": key, "php": "8.2"})}),
        "puc head": ("HEAD", puc, {"query": urlencode({"license_key": key})}),
        "puc no key": ("GET", puc, {"query": "installed_version=2.4.0"}),
        "puc unknown key": ("GET", puc, {"query": "license_key=AAAAA-BBBBB-CCCCC-DDDDD"}),
        "puc beta": ("GET", puc, {"query": urlencode({"license_key": key, "beta": "1"})}),
        "puc old wordpress": (
            "GET",
            puc,
            {"query": urlencode({"license_key": key, "wp_version": "4.0"})},
        ),
        "puc unknown product": ("GET", "/updates/puc/not-ours/", {}),
        # The query string as QueryDict reads it: the last of repeated names, '+' and %XX,
        # blank and bare names; a non-ASCII one is left to QueryDict itself.
        "puc query forms": (
            "GET",
            puc,
            {"query": f"license_key=AAAAA&license_key={key}&locale=de+DE&php=8%2E2&beta&x="},
        ),
        "puc query not ascii": ("GET", puc, {"query": f"license_key={key}&locale=d\xe9"}),
        "puc query too many fields": ("GET", puc, {"query": "a=1&" * 1000 + f"license_key={key}"}),
        "edd get_version": (
            "POST",
            "/updates/edd/",
            _form(edd_action="get_version", license=key, **edd),
        ),
        "edd get_version at root": (
            "POST",
            "/",
            _form(edd_action="get_version", license=key, **edd),
        ),
        "edd get_version batch": (
            "POST",
            "/updates/edd/",
            _form(
                edd_action="get_version",
                **{"products[formwell][slug]": "formwell", "products[formwell][license]": key},
                **{"products[other][slug]": "other"},
            ),
        ),
        "edd check_license": (
            "POST",
            "/updates/edd/",
            _form(edd_action="check_license", license=key, **edd),
        ),
        "edd check_license unknown key": (
            "POST",
            "/updates/edd/",
            _form(edd_action="check_license", license="NOPE", **edd),
        ),
        "edd check_license other product": (
            "POST",
            "/updates/edd/",
            _form(edd_action="check_license", license=key, item_name="Nothing Here"),
        ),
        "edd unknown action": ("POST", "/updates/edd/", _form(edd_action="dance")),
        # What request.POST would read: a UTF-8 form (with the charset WordPress sends), the
        # query string when it names edd_action; any other charset or non-ASCII goes to Django.
        "edd form utf-8": (
            "POST",
            "/updates/edd/",
            {
                **_form(edd_action="get_version", license=key, **edd),
                "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=UTF-8",
            },
        ),
        "edd form latin-1": (
            "POST",
            "/updates/edd/",
            {
                **_form(edd_action="get_version", license=key, **edd),
                "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=latin-1",
            },
        ),
        "edd form percent-encoded": (
            "POST",
            "/updates/edd/",
            _form(edd_action="check_license", license=key, item_name="Formwéll", url=SITE),
        ),
        "edd form not ascii": (
            "POST",
            "/updates/edd/",
            {
                "body": f"edd_action=check_license&license={key}&item_name=Formwéll".encode(),
                "CONTENT_TYPE": "application/x-www-form-urlencoded",
            },
        ),
        "edd action in the query": (
            "POST",
            "/updates/edd/",
            {
                "query": urlencode({"edd_action": "check_license", "license": key, **edd}),
                **_form(edd_action="get_version"),
            },
        ),
        "edd repeated fields": (
            "POST",
            "/updates/edd/",
            {
                "body": f"edd_action=check_license&license=NOPE&license={key}&item_name="
                "Formwell&url=".encode()
                + SITE.encode(),
                "CONTENT_TYPE": "application/x-www-form-urlencoded",
            },
        ),
        "edd root without action": ("POST", "/", _form(hello="world")),
        "native batch": (
            "POST",
            "/updates/v1/check",
            _json(
                {
                    "plugins": {
                        "formwell/formwell.php": {"Version": "2.4.0"},
                        "akismet/akismet.php": {"Version": "5.0"},
                    },
                    "licenses": {"formwell/formwell.php": key},
                    "site_url": SITE,
                }
            ),
        ),
        "native bad json": (
            "POST",
            "/updates/v1/check",
            {"body": b"{", "CONTENT_TYPE": "application/json"},
        ),
        "native not an object": ("POST", "/updates/v1/check", _json([1, 2])),
    }


# Served over HTTPS (behind a proxy that says so), the security middleware adds HSTS as well.
SECURE = {
    "settings": {"SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")},
    "environ": {"HTTP_X_FORWARDED_PROTO": "https"},
}
PLAIN: dict[str, dict[str, Any]] = {"settings": {}, "environ": {}}


@pytest.mark.parametrize("transport", [PLAIN, SECURE], ids=["http", "https"])
def test_every_dialect_case_is_answered_byte_for_byte_as_by_the_full_stack(
    release, issued, monkeypatch, settings, transport
):
    monkeypatch.setattr(time, "time", lambda: 1796061234.5)
    settings.DEPOT_UPDATE_RATE_LIMIT = 10**6
    settings.DEPOT_LICENSE_RATE_LIMIT = 10**6
    direct = _direct_answers(monkeypatch)
    with _updates_role(
        settings,
        SECURE_HSTS_SECONDS=31536000,
        **transport["settings"],
    ):
        django_app = WSGIHandler()
        lean = LeanApplication(django_app)
        answered_directly: dict[str, bool] = {}
        for name, (method, path, options) in _cases(issued.key).items():
            options = dict(options)
            body = options.pop("body", b"")
            query = options.pop("query", "")
            options.update(transport["environ"])
            environ = _environ(method, path, query=query, body=body, **options)
            _call(django_app, environ)  # the same state for both (a first check activates)

            full = _call(django_app, environ)
            direct.clear()
            short = _call(lean, environ)
            answered_directly[name] = direct == [True]

            assert short == full, name
            assert full[0].split()[0] in {"200", "400", "404", "405"}, (name, full[0])
            if name == "edd form latin-1":
                assert full[0].startswith("400")
            hsts = any(header == "Strict-Transport-Security" for header, _ in full[1])
            assert hsts is (transport is SECURE), name

    # PUC's GETs and EDD's forms with plain parameters were answered without Django's request
    # and response (the 404 and 400 among them finished through them); the others (HEAD, a
    # non-ASCII or oversized query, the root's index, native JSON) went through the views.
    assert {name for name, yes in answered_directly.items() if yes} == {
        "puc licensed",
        "puc no key",
        "puc unknown key",
        "puc beta",
        "puc old wordpress",
        "puc unknown product",
        "puc query forms",
        "edd get_version",
        "edd get_version at root",
        "edd get_version batch",
        "edd check_license",
        "edd check_license unknown key",
        "edd check_license other product",
        "edd unknown action",
        "edd form utf-8",
        "edd action in the query",
        "edd repeated fields",
        "edd form percent-encoded",
    }


def _direct_answers(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record whether each request was taken by the lean path's direct answer."""
    seen: list[bool] = []
    direct = LeanApplication._direct

    def recorded(self: LeanApplication, *args: Any) -> Any:
        answered = direct(self, *args)
        seen.append(answered is not None)
        return answered

    monkeypatch.setattr(LeanApplication, "_direct", recorded)
    return seen


@pytest.mark.parametrize(
    ("answered_before_the_view", "status"),
    [
        ({"SECURE_SSL_REDIRECT": True}, "301"),
        ({"PREPEND_WWW": True}, "301"),
        ({"DISALLOWED_USER_AGENTS": [re.compile(r"^WordPress/")]}, "403"),
    ],
    ids=["https redirect", "www redirect", "user agent refused"],
)
def test_what_the_middleware_answers_before_the_view_is_answered_as_by_the_full_stack(
    release, issued, settings, answered_before_the_view, status
):
    with _updates_role(
        settings,
        **answered_before_the_view,
    ):
        django_app = WSGIHandler()
        lean = LeanApplication(django_app)
        for environ in (
            _environ("GET", "/updates/puc/formwell/", query=f"license_key={issued.key}"),
            _environ("HEAD", "/updates/puc/formwell/", query=f"license_key={issued.key}"),
            _environ("POST", "/updates/edd/", **_form(edd_action="check_license")),
        ):
            full, short = _call(django_app, environ), _call(lean, environ)

            assert short == full
            assert full[0].startswith(status)


def test_a_request_for_a_host_not_served_goes_to_django(release, settings):
    calls: list[str] = []

    def django_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ["HTTP_HOST"])
        start_response("400 Bad Request", [])
        return []

    lean = LeanApplication(django_app)
    _call(lean, _environ("GET", "/updates/puc/formwell/", HTTP_HOST="evil.example"))

    assert calls == ["evil.example"]


def test_other_paths_and_methods_go_to_django(release, settings):
    calls: list[str] = []

    def django_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        start_response("204 No Content", [])
        return []

    lean = LeanApplication(django_app)
    for method, path in [
        ("POST", "/updates/puc/formwell/"),
        ("GET", "/updates/edd/"),
        ("GET", "/"),
        ("GET", "/healthz"),
        ("POST", "/updates/v1/licenses/activate"),
        ("GET", "/updates/puc/formwell"),
        ("GET", "/updates/download/abc/formwell-1.0.zip"),
    ]:
        _call(lean, _environ(method, path))

    assert len(calls) == 7


def _puc_environ(key: str) -> dict[str, Any]:
    return _environ("GET", "/updates/puc/formwell/", query=urlencode({"license_key": key}))


def test_a_receiver_of_the_request_signals_hears_lean_requests_too(release, issued, settings):
    heard: list[Any] = []

    def receiver(signal: Any, **kwargs: Any) -> None:
        heard.append(signal)

    signals.request_started.connect(receiver)
    signals.request_finished.connect(receiver)
    try:
        with _updates_role(settings):
            status, _, _ = _call(LeanApplication(WSGIHandler()), _puc_environ(issued.key))
    finally:
        signals.request_started.disconnect(receiver)
        signals.request_finished.disconnect(receiver)

    assert status.startswith("200")
    assert heard == [signals.request_started, signals.request_finished]


def test_a_database_connection_a_lean_request_used_is_closed_as_django_closes_it(
    release, issued, settings
):
    # The test settings keep no connection between requests (CONN_MAX_AGE 0).
    assert connection.settings_dict["CONN_MAX_AGE"] == 0
    with _updates_role(settings):
        lean = LeanApplication(WSGIHandler())
        connection.close()
        with CaptureQueriesContext(connection) as queries:
            status, _, _ = _call(lean, _puc_environ(issued.key))  # not cached yet: read

    assert status.startswith("200")
    assert len(queries) > 0
    assert connection.connection is None


def test_one_process_answers_plain_and_secure_requests_each_with_their_own_headers(
    release, issued, monkeypatch, settings
):
    monkeypatch.setattr(time, "time", lambda: 1796061234.5)
    with _updates_role(
        settings,
        SECURE_HSTS_SECONDS=31536000,
        **SECURE["settings"],
    ):
        django_app = WSGIHandler()
        lean = LeanApplication(django_app)
        plain = _puc_environ(issued.key)
        secure = {**plain, **SECURE["environ"]}
        _call(django_app, plain)  # the first check activates the site
        answers = [(_call(lean, e), _call(django_app, e)) for e in (plain, secure, plain)]

    assert [short == full for short, full in answers] == [True, True, True]
    assert "Strict-Transport-Security" in dict(answers[1][0][1])


@pytest.mark.parametrize("dialect", ["puc", "edd"])
@pytest.mark.parametrize("failure", [DatabaseError("gone away"), RuntimeError("a bug")])
def test_a_check_that_fails_is_answered_as_by_the_full_stack(
    release, issued, monkeypatch, settings, failure, dialect
):
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise failure

    monkeypatch.setattr(puc if dialect == "puc" else edd, "check_many", failing)
    direct = _direct_answers(monkeypatch)
    if dialect == "puc":
        environ = _puc_environ(issued.key)
    else:
        form = _form(edd_action="get_version", license=issued.key, item_name="Formwell")
        environ = _environ("POST", "/updates/edd/", **form)
    with _updates_role(settings):
        django_app = WSGIHandler()
        full, short = _call(django_app, environ), _call(LeanApplication(django_app), environ)

    assert short == full
    assert full[0].split()[0] == ("503" if isinstance(failure, DatabaseError) else "500")
    assert direct == [True]


def test_query_strings_are_read_as_parse_qsl_reads_them():
    import random
    from urllib.parse import parse_qsl

    from apps.updates.api.lean import query_last

    pieces = ["a", "b", "=", "&", "&&", "+", "%", "%2", "%41", "%e9", "%C3%A9", "%zz", "x=y", " "]
    rng = random.Random(17)
    texts = ["", "&", "=", "a", "a=", "=b", "a=1&a=2", "a+b=c+d", "k=%ff%fe"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    for text in texts:
        assert query_last(text) == dict(parse_qsl(text, keep_blank_values=True)), text
