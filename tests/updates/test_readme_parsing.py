"""Readme parsing: work grows with the readme's size only, and its text leaves as safe HTML.

A readme is vendor input of up to 1 MiB, read while an upload request waits. The work that
can blow up (regex backtracking before; cmark and ammonia now) runs in C, where no Python
step counter sees it, so the 1 MiB cases run in a child process under a hard CPU-seconds
limit (RLIMIT_CPU): not a timing, a cap the child cannot pass; it has 10x headroom over the
slowest shape measured, and the old parser needed hours for the same input.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.licenses.models import Product
from apps.updates.models import Release
from apps.updates.publishing.zip_read import plugin_zip_read
from apps.updates.services import publish_token_create

REPO = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
CPU_SECONDS = 30
HEADER = "<?php\n/*\n * Plugin Name: Formwell\n * Version: 2.5.0\n */\n"
TOP = "=== Formwell ===\nStable tag: 2.5.0\n\nShort.\n\n== Changelog ==\n"


def _zip(readme: str) -> bytes:
    # Stored, not deflated: 1 MiB of one character deflates past the zip-bomb ratio check.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("formwell/formwell.php", HEADER)
        archive.writestr("formwell/readme.txt", readme, compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


def _fill(unit: str, size: int = MIB - len(TOP) - 1) -> str:
    return unit * (size // len(unit))


# Each shape is 1 MiB of readme. `[`, `*`, `_`, `<`, backticks and emphasis soup are the
# inline parser's worst cases; the lines of spaces took the old line regexes cubic time.
PATHOLOGICAL = {
    "open brackets": TOP + _fill("["),
    "image openers": TOP + _fill("!["),
    "asterisks": TOP + _fill("*"),
    "underscores": TOP + _fill("_"),
    "angle brackets": TOP + _fill("<"),
    "unclosed tags": TOP + _fill("<div>"),
    "backticks": TOP + _fill("`"),
    "backtick runs": TOP + _fill("``x"),
    "emphasis soup": TOP + _fill("*_"),
    "entities": TOP + _fill("&#"),
    "lines of brackets": TOP + _fill("* " + "[" * 60 + "\n"),
    "section line of spaces": "== " + " " * (MIB - 5) + "x\n",
    "sub-heading line of spaces": TOP + "= " + _fill(" ", MIB - len(TOP) - 4) + "x\n",
    "field line of spaces": "=== Formwell ===\n" + " " * (MIB - 20) + "x\n",
}

CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_CPU, ({limit}, {limit}))
from apps.updates.publishing.zip_read import ZipRejected, plugin_zip_read
data = open(sys.argv[1], "rb").read()
try:
    package = plugin_zip_read(data)
    print(json.dumps({{"code": "ok", "changelog": len(package.changelog)}}))
except ZipRejected as exc:
    print(json.dumps({{"code": exc.code}}))
"""


def _parse_in_child(data: bytes, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "plugin.zip"
    path.write_bytes(data)
    return subprocess.run(
        [sys.executable, "-c", CHILD.format(limit=CPU_SECONDS), str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("shape", list(PATHOLOGICAL))
def test_a_pathological_1_mib_readme_parses_within_a_cpu_budget(shape, tmp_path):
    # Given
    data = _zip(PATHOLOGICAL[shape])

    # When
    child = _parse_in_child(data, tmp_path)

    # Then: a child past its CPU limit is killed by SIGXCPU and has no answer
    assert child.returncode == 0, f"{shape}: killed past {CPU_SECONDS} CPU-s ({child.stderr})"
    assert json.loads(child.stdout)["code"] == "ok"


def test_quotes_nested_thousands_deep_are_refused_within_the_budget(tmp_path):
    # Given
    data = _zip(TOP + _fill("> "))

    # When
    child = _parse_in_child(data, tmp_path)

    # Then
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout)["code"] == "readme_too_deep"


def _profiled_calls(data: bytes) -> int:
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        calls += 1

    sys.setprofile(count)
    try:
        plugin_zip_read(data)
    finally:
        sys.setprofile(None)
    return calls


def test_the_python_side_of_parsing_counts_linear_steps():
    # Given a readme of many short lines mixing every construct, then ten times as many
    lines = "= 1.0 =\n* Fix: [a](https://a.example/) **b** `c`\nKey: value\n== Other ==\n"
    small, large = _zip(TOP + lines * 1_000), _zip(TOP + lines * 10_000)

    # When: Python calls counted (C calls are counted once each, whatever they do)
    ratio = _profiled_calls(large) / _profiled_calls(small)

    # Then
    assert ratio < 11


def test_wordpress_readme_structure_survives():
    # Given
    readme = (
        "=== Formwell ===\nContributors: depot\nRequires at least: 6.2\nTested up to: 6.7\n"
        "Stable tag: 2.5.0\n\nShort.\n\n== Description ==\nForms.\n\n### Blocks\n\n"
        "1. One\n2. Two\n\n== Changelog ==\n= 2.5.0 =\n* New: steps.\n  continued\n\n"
        "= 2.4.0 =\nFaster.\n\n== Upgrade Notice ==\n= 2.5.0 =\nBack up & <b>update</b>.\n"
    )

    # When
    package = plugin_zip_read(_zip(readme))

    # Then
    assert (package.requires_wp, package.tested_up_to, package.stable_tag) == (
        "6.2",
        "6.7",
        "2.5.0",
    )
    assert (
        package.description == "<p>Forms.</p>\n<h3>Blocks</h3>\n<ol><li>One</li><li>Two</li></ol>"
    )
    assert package.changelog == (
        "<h4>2.5.0</h4>\n<ul><li>New: steps.\ncontinued</li></ul>\n<h4>2.4.0</h4>\n<p>Faster.</p>"
    )
    assert package.upgrade_notice == "Back up &amp; update."


# Through the vendor API, as a build pipeline uploads.

URL = "/vendor/api/v1/releases"


@pytest.fixture
def secret(product: Product) -> str:
    _, secret = publish_token_create(name="CI", products=[product])
    return secret


def _post(data: bytes, secret: str) -> object:
    upload = SimpleUploadedFile("formwell.zip", data, "application/zip")
    client = Client(enforce_csrf_checks=True)
    return client.post(URL, {"zip": upload}, HTTP_AUTHORIZATION=f"Bearer {secret}")


def _stored() -> set[str]:
    try:
        return set(default_storage.listdir("releases/formwell")[1])
    except FileNotFoundError:
        return set()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "readme",
    [TOP + "[" * 60_000 + "\n", PATHOLOGICAL["open brackets"]],
    ids=["issue's 60,000 brackets", "1 MiB of brackets"],
)
def test_a_pathological_readme_is_published_through_the_vendor_api(product, secret, readme):
    # When
    response = _post(_zip(readme), secret)

    # Then
    assert response.status_code == 201, response.content
    changelog = Release.objects.get(product=product).changelog
    assert changelog.startswith("<p>[[[") and changelog.endswith("[[[</p>")


@pytest.mark.django_db
def test_a_readme_nested_too_deep_is_refused_with_what_to_fix_and_nothing_stored(product, secret):
    # Given
    before = _stored()

    # When
    response = _post(_zip(TOP + "> " * 5_000 + "x\n"), secret)

    # Then
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "readme_too_deep"
    assert "Changelog section nests lists or quotes" in body["message"]
    assert "the limit is 50" in body["message"]
    assert not Release.objects.exists()
    assert _stored() == before


@pytest.mark.django_db
def test_scripts_and_handlers_in_a_readme_are_not_stored(product, secret):
    # Given
    readme = (
        TOP + "= 2.5.0 =\n* Fix: <script>alert(1)</script> <img src=x onerror=alert(2)>\n"
        "* [docs](javascript:alert(3)) [site](https://formwell.example.com/)\n"
    )

    # When
    response = _post(_zip(readme), secret)

    # Then
    assert response.status_code == 201
    release = Release.objects.get(product=product)
    assert release.changelog == (
        "<h4>2.5.0</h4>\n<ul><li>Fix: alert(1) </li>"
        '<li><a>docs</a> <a href="https://formwell.example.com/">site</a></li></ul>'
    )


@pytest.mark.django_db
def test_the_admin_shows_release_text_as_sanitised_html(admin_client, product, secret):
    # Given
    readme = TOP + "= 2.5.0 =\n* Fix: uploads.\n"
    assert _post(_zip(readme), secret).status_code == 201
    release = Release.objects.get(product=product)
    # and a row that some other writer filled with markup
    Release.objects.filter(pk=release.pk).update(
        description='<p onclick="alert(1)">Forms</p><script>alert(2)</script>'
    )

    # When
    response = admin_client.get(f"/admin/updates/release/{release.pk}/change/")

    # Then
    page = response.content.decode()
    assert "<h4>2.5.0</h4>" in page and "<li>Fix: uploads.</li>" in page
    assert "<p>Forms</p>" in page
    assert "alert(" not in page
