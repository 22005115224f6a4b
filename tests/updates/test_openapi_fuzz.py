"""The OpenAPI document of /updates/ against the code (apps/updates/openapi.json).

schemathesis fuzzes every documented operation through Django's WSGI handler in-process, on
the updates role's URLconf and middleware, against a database holding a product, a release
and an activated license. Some generated values are swapped for real ones (slug, key,
download token, site) so the fuzzer reaches the entitled paths, not only the refusals. Every
answer must be documented: status code, content type, headers and JSON body; none a 5xx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from openapi_spec_validator import validate as openapi_validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.licenses.models import Product
from apps.updates.api.edd import ACTIONS as EDD_ACTIONS
from apps.updates.delivery.package_tokens import download_token_make
from apps.updates.models import Release
from config.settings.roles import updates_middleware
from tests.builders import SITE, WP_UA, Issued

DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "apps" / "updates" / "openapi.json"
DOCUMENT: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text())
# A copy of its own: schemathesis may annotate the dictionary it is given.
SCHEMA = schemathesis.openapi.from_dict(json.loads(DOCUMENT_PATH.read_text()))
OPERATIONS = [(path, method.upper()) for path, item in DOCUMENT["paths"].items() for method in item]
# Negative data needs something to negate: parameters or a body.
RUNS = [
    (path, method, mode)
    for path, method in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE
    or {"parameters", "requestBody"} & set(DOCUMENT["paths"][path][method.lower()])
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# 24 runs (13 operations, positive and negative): about 30 s on two busy cores.
MAX_EXAMPLES = 50
BATCH_FIELD = "products[…]"

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.urls("config.urls_updates"),
    # The embedded default's local-memory cache warns about keys memcached would refuse
    # (generated slugs with spaces); neither Redis nor Depot's own keys care.
    pytest.mark.filterwarnings("ignore::django.core.cache.CacheKeyWarning"),
]


@pytest.fixture
def wsgi_app(settings: Any) -> Iterator[WSGIHandler]:
    """Django's WSGI handler as the updates role runs it, inside the test's transaction."""
    settings.MIDDLEWARE = updates_middleware(settings.MIDDLEWARE)
    # The license rate limit would turn most license requests into 429s after thirty.
    settings.DEPOT_LICENSE_RATE_LIMIT = 1_000_000
    # As django.test's client does: closing the connection when a request finishes would
    # end the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def seeds(product: Product, release: Release, issued: Issued) -> dict[str, SearchStrategy[Any]]:
    """Real values the fuzzer may put in place of generated ones, by parameter or field."""
    token = download_token_make(
        license_id=issued.license.pk, release_id=release.pk, site="shop.example.com"
    )
    plugin_file = f"{product.slug}/{product.slug}.php"
    sites = st.sampled_from([SITE, "https://other.example.org/", "staging.shop.example.com"])
    return {
        "slug": st.just(product.slug),
        "license_key": st.just(issued.key),
        "license": st.just(issued.key),
        "token": st.just(token),
        "filename": st.just(f"{product.slug}-{release.version}.zip"),
        "User-Agent": st.sampled_from([WP_UA, "WordPress/6.9; https://other.example.org/"]),
        "site_url": sites,
        "url": sites,
        "item_name": st.just(product.name),
        # Numbers arrive as text, and any Unicode digit passes str.isdigit().
        "item_id": st.one_of(
            st.just(str(product.pk)),
            st.text(st.characters(categories=("Nd", "No")), min_size=1, max_size=12),
        ),
        "edd_action": st.sampled_from(EDD_ACTIONS),
        "installed_version": st.sampled_from(["1.0.0", release.version]),
        "plugins": st.just({plugin_file: {"Version": "1.0.0"}}),
        "licenses": st.just({plugin_file: issued.key}),
        f"products[{product.slug}][slug]": st.just(product.slug),
        f"products[{product.slug}][license]": st.just(issued.key),
        f"products[{product.slug}][url]": st.just(SITE),
    }


def _documented(path: str, method: str) -> dict[str, set[str]]:
    """The parameter and body field names an operation documents, by where they go."""
    operation = DOCUMENT["paths"][path][method.lower()]
    names: dict[str, set[str]] = {"path": set(), "query": set(), "header": set(), "body": set()}
    for parameter in operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = DOCUMENT["components"]["parameters"][parameter["$ref"].rpartition("/")[2]]
        names[parameter["in"]].add(parameter["name"])
    for media in operation.get("requestBody", {}).get("content", {}).values():
        schema = media["schema"]
        if "$ref" in schema:
            schema = DOCUMENT["components"]["schemas"][schema["$ref"].rpartition("/")[2]]
        names["body"] |= set(schema.get("properties", {}))
        if schema.get("patternProperties"):
            names["body"].add(BATCH_FIELD)
    if "batch" in names["query"]:  # free-form products[<key>][<param>] arguments
        names["query"].add(BATCH_FIELD)
    return names


def _seed(case: Any, data: Any, seeds: dict[str, SearchStrategy[Any]]) -> None:
    """Swap some generated values for real ones, as Hypothesis draws."""
    documented = _documented(case.operation.path, case.method)
    if case.headers is None and documented["header"]:
        case.headers = {}
    containers = {
        "path": case.path_parameters,
        "query": case.query,
        "header": case.headers,
        "body": case.body,
    }
    # "all" first: Hypothesis starts from, and shrinks towards, the fully seeded request.
    how = data.draw(st.sampled_from(["all", "some", "none"]), label="seeds")
    for where, container in containers.items():
        if how == "none" or not isinstance(container, dict):
            continue
        for name, strategy in seeds.items():
            if (BATCH_FIELD if name.startswith("products[") else name) not in documented[where]:
                continue
            if how == "all" or data.draw(st.booleans(), label=name):
                container[name] = data.draw(strategy, label=name)


def _reaches_the_view(case: Any) -> bool:
    # A path parameter outside its documented pattern never reaches the endpoint: Django's
    # URL resolver answers with its own 404 page first.
    if case.meta is None:
        return True
    component = case.meta.components.get(ParameterLocation.PATH)
    return component is None or component.mode is GenerationMode.POSITIVE


def _call_and_validate(case: Any, app: WSGIHandler) -> Any:
    response = case.call(app=app)
    # 503 included: the database and the cache are up, so an outage answer is a bug too.
    assert response.status_code < 500, case.as_curl_command()
    case.validate_response(response, checks=CHECKS)
    return response


@pytest.mark.parametrize(
    ("path", "method", "mode"), RUNS, ids=[f"{m} {p} {mode}" for p, m, mode in RUNS]
)
def test_every_operation_answers_as_documented(
    path: str,
    method: str,
    mode: GenerationMode,
    wsgi_app: WSGIHandler,
    seeds: dict[str, SearchStrategy[Any]],
) -> None:
    operation = SCHEMA[path][method]

    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def fuzz(case: Any, data: Any) -> None:
        if _reaches_the_view(case):
            _seed(case, data, seeds)
            _call_and_validate(case, wsgi_app)

    fuzz()


_NATIVE = {"plugins": {"formwell/formwell.php": {"Version": "1.0.0"}}}


@pytest.mark.parametrize(
    ("path", "method", "parts", "status"),
    [
        # int() refuses some characters that str.isdigit() accepts (superscripts, ①).
        pytest.param(
            "/updates/edd/",
            "GET",
            {"query": {"edd_action": "get_version", "item_id": "²"}},
            200,
            id="edd-superscript-item-id",
        ),
        pytest.param(
            "/updates/edd/",
            "GET",
            {"query": {"edd_action": "check_license", "item_id": "①", "license": "x"}},
            200,
            id="edd-circled-item-id",
        ),
        # json.loads() raises RecursionError, not ValueError, on deep nesting.
        pytest.param(
            "/updates/v1/check", "POST", {"raw": "[" * 100_000}, 400, id="native-deep-json"
        ),
        pytest.param(
            "/updates/puc/{slug}/",
            "GET",
            {"path_parameters": {"slug": "formwell"}, "query": {"php": "①"}},
            200,
            id="puc-circled-php-version",
        ),
        pytest.param(
            "/updates/v1/check",
            "POST",
            {"body": {"plugins": {"formwell/formwell.php": {"Version": "²"}}}},
            200,
            id="native-superscript-installed-version",
        ),
        pytest.param(
            "/updates/v1/licenses/check",
            "POST",
            {"raw": '{"license_key": "x", "slug": "\\ud800"}'},
            400,
            id="license-check-surrogate-slug",
        ),
        pytest.param(
            "/updates/v1/check",
            "POST",
            {"raw": json.dumps(_NATIVE)[:-1] + ', "site_url": "https://a.example.org/\\ud800"}'},
            400,
            id="native-surrogate-site-url",
        ),
    ],
)
def test_requests_that_broke_the_api_answer_as_documented(
    path: str,
    method: str,
    parts: dict[str, Any],
    status: int | None,
    wsgi_app: WSGIHandler,
    release: Release,
) -> None:
    raw = parts.get("raw")
    case = SCHEMA[path][method].Case(**{k: v for k, v in parts.items() if k != "raw"})
    extra = {} if raw is None else {"data": raw, "headers": {"Content-Type": "application/json"}}

    response = case.call(app=wsgi_app, **extra)

    assert response.status_code < 500, response.text[:200]
    case.validate_response(response, checks=CHECKS)
    if status is not None:
        assert response.status_code == status


# --- the document itself ------------------------------------------------------------------


def _routes(patterns: list[Any], prefix: str = "") -> list[str]:
    """Every route below `patterns`, as an OpenAPI path template."""
    found = []
    for pattern in patterns:
        if getattr(pattern, "name", None) == "not-found":
            continue  # the JSON 404 for every other path
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            found.append(route)
    templates = []
    for route in found:
        route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)  # re_path named groups
        route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)  # path("puc/<slug:slug>/")
        route = route.replace("^", "").replace("$", "").replace("\\.", ".")
        templates.append(route)
    return templates


@pytest.mark.parametrize("urlconf", ["config.urls", "config.urls_updates"])
def test_the_served_document_is_openapi_3_1_and_valid(client, settings, urlconf):
    settings.ROOT_URLCONF = urlconf

    response = client.get("/updates/openapi.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    document = json.loads(response.content)
    assert document == DOCUMENT
    assert document["openapi"].startswith("3.1.")
    assert document["servers"] == [{"url": "/", "description": "The host serving this document."}]
    openapi_validate(document)


def test_every_route_of_the_update_api_is_documented():
    routes = {
        "/updates/" + route for route in _routes(get_resolver("apps.updates.urls").url_patterns)
    }
    documented = {path for path in DOCUMENT["paths"] if path.startswith("/updates/")}

    assert routes, "the walk found no routes"
    assert routes - documented == set(), "routes missing from apps/updates/openapi.json"
    assert documented - routes == set(), "documented paths that no route serves"


def test_the_updates_hosts_root_is_documented_too():
    root = [r for r in _routes(get_resolver("config.urls_updates").url_patterns) if r == ""]

    assert root, "the updates host no longer answers EDD at its root"
    assert set(DOCUMENT["paths"]["/"]) == {"get", "post"}


def test_every_json_error_is_a_code_and_a_message():
    def schemas_of(response: dict[str, Any]) -> list[dict[str, Any]]:
        if "$ref" in response:
            response = DOCUMENT["components"]["responses"][response["$ref"].rpartition("/")[2]]
        return [media["schema"] for media in response.get("content", {}).values()]

    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                for schema in schemas_of(response):
                    assert {"code", "message"} <= set(schema["required"]), (method, path, status)
                    assert schema["properties"]["code"]["enum"], (method, path, status)
