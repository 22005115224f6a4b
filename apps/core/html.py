"""Vendor-supplied HTML made safe to show: one allow-list for pages, e-mails and WordPress.

Release text (a readme's description, installation and changelog) is written by whoever holds
a publish token and is shown on the storefront, in the admin and, through the update API,
inside WordPress's plugin screens. It passes through ammonia (nh3), an allow-list sanitiser:
only the tags below survive, links keep web and mail URLs only, and everything else,
`<script>` with its content, `on*=` handlers, `style`, `javascript:` URLs, is dropped.
"""

from __future__ import annotations

import nh3
from django.utils.safestring import SafeString, mark_safe

# What a readme rendered from Markdown holds, less images (a tracking pixel on the storefront,
# mixed content in wp-admin; screenshots have their own place on a product).
ALLOWED_TAGS = frozenset(
    {
        *("p", "br", "hr", "blockquote", "pre", "code"),
        *("h1", "h2", "h3", "h4", "h5", "h6"),
        *("ul", "ol", "li"),
        *("a", "strong", "em", "b", "i", "del", "s", "sub", "sup", "abbr"),
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "abbr": {"title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})

_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES),
    # A relative link would point into Depot itself (a store page, a sign-out URL).
    url_relative="deny",
    # No target="_blank" is allowed, so the opener cannot leak; keep the markup as written.
    link_rel=None,
)
_text_cleaner = nh3.Cleaner(tags=set(), attributes={}, link_rel=None)


def html_sanitise(html: str) -> str:
    """Return `html` with only the allowed tags, attributes and URL schemes left."""
    return _cleaner.clean(html)


def html_text(html: str) -> str:
    """Return `html` with every tag removed (script and style with their content), escaped."""
    return _text_cleaner.clean(html)


def html_safe(value: object) -> SafeString:
    """Sanitise `value` with the allow-list and mark the result safe to print in a page."""
    # Stored release text is sanitised when it is written; sanitising again where it is
    # printed covers rows from any other writer, and costs microseconds.
    return mark_safe(html_sanitise(str(value or "")))  # noqa: S308 (sanitised just above)
