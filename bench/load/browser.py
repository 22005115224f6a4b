"""What a browser does that python-requests does not: retry a GET on a dropped kept-alive link.

nginx closes a client connection idle for 30 s (keepalive_timeout in deploy/nginx). A buyer
who waits on a slow receipt, or an admin waiting for the next TOTP code, idles longer; its next
request goes out on that closed connection and fails before any response ("Remote end closed
connection without response"). Browsers send such a request again on a new connection; the
load's buyers and admins do the same for GET and HEAD (never POST, which a browser would not
repeat unasked either), once.
"""

from __future__ import annotations

from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


def browser_retries(session: Any) -> None:
    """Mount adapters on a requests session that retry an idempotent request once."""
    retry = Retry(
        total=1,
        connect=1,
        read=1,
        status=0,
        other=0,
        redirect=False,
        allowed_methods=frozenset({"GET", "HEAD"}),
        raise_on_status=False,
    )
    for prefix in ("http://", "https://"):
        session.mount(prefix, HTTPAdapter(max_retries=retry))
