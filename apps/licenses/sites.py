"""Site identity: a WordPress site's URL reduced as EDD does, and staging told from production.

Also how many sites a limit allows, in words: a license's `activation_limit` and a price
tier's `sites_allowed` both store 0 for "unlimited", and every page and e-mail says so alike.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata

# DNS caps a name at 253 characters in text and a label at 63; the stored site column at 255.
MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63
MAX_SITE_LENGTH = 255

# Anything else (ftp:, file:, javascript:) is not the address of a WordPress site.
SITE_SCHEMES = frozenset({"http", "https"})

# TLDs reserved for testing (RFC 2606, RFC 6761), mDNS (.local), private use (.internal), plus
# the names agencies use for their own. `.dev` is a real public TLD (Google's, HSTS-preloaded),
# but EDD and most vendors count it as development, and so do we: a live `.dev` site then
# takes no activation slot, a small loss next to charging developers' local copies for one.
STAGING_TLDS = frozenset(
    {"local", "test", "dev", "staging", "example", "invalid", "localhost", "internal"}
)

# First labels that mark a copy of a site. Only the exact label counts (`developer.` does not),
# and only on a subdomain, so the registrable domains dev.to or test.com stay production.
STAGING_SUBDOMAIN_LABELS = frozenset({"staging", "stage", "dev", "test"})

# Hosting companies' temporary and staging domains; any host below one of them is staging.
STAGING_HOST_SUFFIXES = frozenset(
    {
        "wpengine.com",
        "wpenginepowered.com",
        "kinsta.cloud",  # also covers Kinsta's staging-<site>.kinsta.cloud
        "kinsta.com",
        "cloudwaysapps.com",
        "pantheonsite.io",
        "flywheelsites.com",
        "wpstagecoach.com",
        "instawp.xyz",
        "tempurl.host",
        "myftpupload.com",
        "lndo.site",
        "ddev.site",
    }
)

# What wp_get_environment_type() answers on a live site; staging, development and local are not.
PRODUCTION_ENVIRONMENT = "production"

# EDD strips "http:/" as well as "http://", so any run of slashes after the scheme is accepted.
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):/+", re.IGNORECASE)
_AUTHORITY_AND_PATH = re.compile(r"([^/?#]*)([^?#]*)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Underscores are not valid in host names, but real hosts have them and browsers accept them.
_ASCII_LABEL = re.compile(r"[a-z0-9_\-]+")
# Dots that UTS #46 treats as label separators, for hosts typed on a CJK keyboard.
_LABEL_SEPARATORS = str.maketrans({"\u3002": "."})
# Separators, controls, surrogates, private-use and unassigned code points never name a host.
_BAD_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cs", "Co", "Cn"})
_USER_AGENT_SITE = re.compile(r"\bWordPress/[^;\s]*;\s*(\S+)")


def sites_label(limit: int) -> str:
    """Name a site limit: "Unlimited sites" for 0, else "1 site" or "5 sites"."""
    if limit == 0:
        return "Unlimited sites"
    return "1 site" if limit == 1 else f"{limit} sites"


def sites_limit_label(limit: int) -> str:
    """Give a site limit as a count, as in "2 of 5 used": "unlimited" for 0, else the number."""
    return "unlimited" if not limit else str(limit)


@functools.lru_cache(maxsize=65536)
def site_normalise(url: str) -> str:
    """Return the site identity of `url`: lower-case host and path, nothing else.

    Kept per process for the last 65,536 URLs (update checks normalise the same few sites
    many times a day; a refused URL raises each time).
    """
    text = url.strip()
    if not text:
        raise ValueError("The site URL is empty.")
    if _CONTROL.search(text):
        raise _invalid(text, "it contains control characters")
    if match := _SCHEME.match(text):
        scheme = match.group(1).lower()
        if scheme not in SITE_SCHEMES:
            raise _invalid(text, f"it must start with http:// or https://, not {scheme}://")
        text_after_scheme = text[match.end() :]
    else:
        text_after_scheme = text.removeprefix("//")
    parts = _AUTHORITY_AND_PATH.match(text_after_scheme)
    assert parts is not None  # both groups may be empty, so the pattern always matches
    authority, path = parts.groups()
    host = _host_normalise(text, authority)
    # Case and trailing slashes never tell two sites apart in EDD; esc_url_raw() turns spaces
    # into %20, which keeps a stored site free of whitespace.
    path = re.sub(r"/{2,}", "/", path).rstrip("/").lower().replace(" ", "%20")
    site = host + path
    if len(site) > MAX_SITE_LENGTH:
        raise _invalid(text, f"it is longer than {MAX_SITE_LENGTH} characters")
    return site


def site_from_user_agent(user_agent: str) -> str | None:
    """Return the site URL in a WordPress User-Agent such as ``WordPress/6.7.1; https://…``."""
    match = _USER_AGENT_SITE.search(user_agent)
    return match.group(1) if match else None


def site_is_staging(site: str, *, environment: str | None = None) -> bool:
    """Tell whether a normalised site is a local, development or staging copy."""
    # An empty environment is what a client sends when it has none to report.
    kind = (environment or "").strip().lower()
    if kind and kind != PRODUCTION_ENVIRONMENT:
        return True
    host = site.partition("/")[0]
    address = _ip_address(host)
    if address is not None:
        return (
            address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_unspecified
        )
    labels = host.split(".")
    if len(labels) == 1 or labels[-1] in STAGING_TLDS:
        return True
    # Three labels at least: `staging.example.com` is a subdomain, `dev.to` is a domain (EDD's
    # is_local_url() asks for more than one dot for the same reason).
    if len(labels) >= 3 and labels[0] in STAGING_SUBDOMAIN_LABELS:
        return True
    # Strictly below a hosting domain: wpengine.com itself is the company's own live site.
    return any(".".join(labels[i:]) in STAGING_HOST_SUFFIXES for i in range(1, len(labels)))


def _invalid(text: str, reason: str) -> ValueError:
    shown = text if len(text) <= 80 else f"{text[:77]}…"
    return ValueError(f"{shown!r} is not a site URL: {reason}.")


def _host_normalise(text: str, authority: str) -> str:
    # user:password@ belongs to the request, never to the site.
    host_and_port = authority.rpartition("@")[2]
    if host_and_port.startswith("["):
        inside, closed, after = host_and_port[1:].partition("]")
        if not closed or (after and not after.startswith(":")):
            raise _invalid(text, "its IPv6 address is not closed by ]")
        port = after[1:]
        try:
            # Compressed form, so [0:0:0:0:0:0:0:1] and [::1] are one site.
            host = f"[{ipaddress.IPv6Address(inside).compressed}]"
        except ValueError:
            raise _invalid(text, f"{inside!r} is not an IPv6 address") from None
    else:
        if host_and_port.count(":") > 1:
            raise _invalid(text, "an IPv6 address must be written in [brackets]")
        name, _, port = host_and_port.partition(":")
        host = _name_to_ascii(text, name)
    if port and not (port.isascii() and port.isdigit()):
        raise _invalid(text, f"{port!r} is not a port number")
    return host


def _name_to_ascii(text: str, name: str) -> str:
    # UTS #46 as browsers apply it (non-transitional): width and compatibility forms folded,
    # lower case, each non-ASCII label in punycode. Python's "idna" codec is IDNA 2003, which
    # turns straße.de into strasse.de, a different registered domain.
    folded = unicodedata.normalize("NFKC", name).translate(_LABEL_SEPARATORS).lower()
    # The root's dot: "example.com." is the same host as "example.com".
    folded = folded.removesuffix(".")
    if not folded:
        raise _invalid(text, "it has no host name")
    labels = [_label_to_ascii(text, label) for label in folded.split(".")]
    # Only a leading "www" label, and never the last two (www.com is a domain of its own).
    while len(labels) > 2 and labels[0] == "www":
        labels.pop(0)
    host = ".".join(labels)
    if len(host) > MAX_HOST_LENGTH:
        raise _invalid(text, f"its host name is longer than {MAX_HOST_LENGTH} characters")
    return host


def _label_to_ascii(text: str, label: str) -> str:
    if not label:
        raise _invalid(text, "its host name has an empty part between dots")
    if any(unicodedata.category(ch) in _BAD_CATEGORIES for ch in label):
        raise _invalid(text, "its host name contains spaces or invisible characters")
    encoded = label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
    # Punycode keeps a label's ASCII characters as they are, so this checks those too.
    if not _ASCII_LABEL.fullmatch(encoded):
        raise _invalid(text, "its host name contains characters a host name cannot have")
    if len(encoded) > MAX_LABEL_LENGTH:
        raise _invalid(
            text, f"a part of its host name is longer than {MAX_LABEL_LENGTH} characters"
        )
    return encoded


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None
    # Judge ::ffff:192.168.1.10 as the IPv4 address it carries; Python < 3.13 calls every
    # IPv4-mapped address private, public ones included.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
