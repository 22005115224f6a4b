"""The plugin page at /plugins/<slug>/: the latest changelog shows as HTML, never as markup text."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.utils import timezone

from apps.licenses.models import Product
from apps.licenses.services import product_release_note
from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
from apps.updates.services import release_publish_zip
from tests.builders import product_make

pytestmark = pytest.mark.django_db


class _Changelog(HTMLParser):
    """Collect the elements inside `#changelog` as (tag, text) pairs, and its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, str]] = []
        self.attributes: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._depth or dict(attrs).get("id") == "changelog":
            self._depth += 1
            if self._depth > 1:
                self.elements.append((tag, ""))
                self.attributes += [name for name, _ in attrs]

    def handle_endtag(self, tag: str) -> None:
        if self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth > 1 and self.elements:
            tag, text = self.elements[-1]
            self.elements[-1] = (tag, text + data)


def _changelog(client, slug: str = "formwell") -> tuple[_Changelog, str]:
    response = client.get(f"/plugins/{slug}/")
    assert response.status_code == 200
    page = response.content.decode()
    parser = _Changelog()
    parser.feed(page)
    return parser, page


@pytest.fixture
def product() -> Product:
    return product_make(description="Forms that work.")


def test_the_changelog_from_the_readme_shows_as_headings_and_list_items(client, product):
    # Given a release published from its zip, as vendors publish
    spec = PluginSpec(
        slug="formwell",
        name="Formwell",
        version="2.4.1",
        description="Forms.",
        changelog="= 2.4.1 =\n* Fix: file uploads larger than 8 MB.\n* New: **steps**",
    )
    release_publish_zip(zip_content=plugin_zip_build(spec), product=product)

    # When
    changelog, page = _changelog(client)

    # Then
    assert changelog.elements == [
        ("h4", "2.4.1"),
        ("ul", ""),
        ("li", "Fix: file uploads larger than 8 MB."),
        ("li", "New: "),
        ("strong", "steps"),
    ]
    assert "&lt;h4&gt;" not in page and "&lt;li&gt;" not in page


def test_scripts_and_handlers_in_a_vendors_readme_never_reach_the_page(client, product):
    # Given
    spec = PluginSpec(
        slug="formwell",
        name="Formwell",
        version="2.4.1",
        description="Forms.",
        changelog=(
            "= 2.4.1 =\n* Fix: <script>alert(1)</script><img src=x onerror=alert(2)>\n"
            '* <a href="https://x.example/" onmouseover="alert(3)">docs</a>\n'
            "* [x](javascript:alert(4))"
        ),
    )
    release_publish_zip(zip_content=plugin_zip_build(spec), product=product)

    # When
    changelog, page = _changelog(client)

    # Then
    assert ("h4", "2.4.1") in changelog.elements
    assert "script" not in {tag for tag, _ in changelog.elements}
    assert "img" not in {tag for tag, _ in changelog.elements}
    assert not [name for name in changelog.attributes if name.startswith("on")]
    assert "onerror" not in page and "onmouseover" not in page and "javascript:" not in page


def test_markup_stored_by_another_writer_is_sanitised_where_it_is_shown(client, product):
    # Given a changelog written straight onto the product, not through a readme
    product_release_note(
        product_id=product.pk,
        version="2.4.1",
        changelog=(
            '<h4 style="x">2.4.1</h4><ul><li onclick="alert(1)">Fix.</li></ul>'
            "<script>alert(2)</script><iframe src=https://evil.example/></iframe>"
            '<a href="javascript:alert(3)">x</a>'
        ),
        requires_wp="6.0",
        tested_up_to="6.7",
        released_at=timezone.now(),
    )

    # When
    changelog, page = _changelog(client)

    # Then
    assert changelog.elements == [("h4", "2.4.1"), ("ul", ""), ("li", "Fix."), ("a", "x")]
    assert changelog.attributes == []
    assert "alert(" not in page and "evil.example" not in page
