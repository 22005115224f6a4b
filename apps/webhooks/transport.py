"""Sending one signed webhook request, to an address that was checked, and nowhere else.

Why http.client and not requests: a server-side request forgery guard must connect to the
very address it checked. Resolving, checking, then handing the *name* to an HTTP library
lets a second DNS answer (rebinding) point the request at 127.0.0.1 or the cloud's metadata
service. `http.client` lets us open the socket to the checked IP ourselves while keeping the
host name for the Host header, TLS's SNI and the certificate check, and it never follows a
redirect (a 3xx is an answer like any other, recorded and retried). requests would need its
urllib3 connection classes overridden to do the same.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

RESPONSE_KEEP_BYTES = 1024
SIGNATURE_HEADER = "Depot-Signature"


class AddressRefused(Exception):
    """The URL resolves to an address Depot does not send to (loopback, private, …)."""


def signature_header(*, secret: str, body: bytes, timestamp: int) -> str:
    """Return the `Depot-Signature` value: ``t=<unix time>,v1=<hex HMAC-SHA256>``.

    The timestamp is signed with the body (``t.body``), so a receiver that refuses old
    timestamps cannot be fed a captured request again later.
    """
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        # Shared address space (100.64/10, carrier NAT) and the like: not on the internet.
        or not ip.is_global
    )


def address_resolve(host: str, port: int) -> str:
    """Return the address to connect to for `host`, or raise AddressRefused.

    Every address the name resolves to must be allowed: a name with one public and one
    private address could otherwise be aimed inside by the order of the answers.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"{host} does not resolve: {exc}") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise AddressRefused(f"{host} does not resolve")
    if not settings.DEPOT_WEBHOOKS_ALLOW_PRIVATE:
        for address in addresses:
            if _refused(ipaddress.ip_address(address.split("%", 1)[0])):
                raise AddressRefused(
                    f"{host} resolves to {address}, a loopback, private or reserved address; "
                    "Depot sends webhooks to public addresses only "
                    "(DEPOT_WEBHOOKS_ALLOW_PRIVATE allows others)"
                )
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(
        self, host: str, port: int, *, address: str, connect_timeout: float, read_timeout: float
    ) -> None:
        super().__init__(host, port, timeout=connect_timeout)
        self._address = address
        self._read_timeout = read_timeout

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), timeout=self.timeout)
        self.sock.settimeout(self._read_timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, *, address: str, connect_timeout: float, read_timeout: float
    ) -> None:
        super().__init__(host, port, timeout=connect_timeout, context=ssl.create_default_context())
        self._address = address
        self._read_timeout = read_timeout

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), timeout=self.timeout)
        # The name, not the address, for SNI and the certificate's host name check.
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]
        self.sock.settimeout(self._read_timeout)


@dataclass(frozen=True)
class Answer:
    """What one request got: a status (None when no answer came), the body's start, the time."""

    status: int | None
    body: str
    duration_ms: int
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def webhook_post(*, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to `url` once, through the address guard; never raises for the network."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Answer(status=None, body="", duration_ms=0, error="not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = address_resolve(parts.hostname, port)
    except AddressRefused as exc:
        return Answer(status=None, body="", duration_ms=took(), error=str(exc)[:300])
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(
        parts.hostname,
        port,
        address=address,
        connect_timeout=settings.DEPOT_WEBHOOKS_CONNECT_TIMEOUT,
        read_timeout=settings.DEPOT_WEBHOOKS_READ_TIMEOUT,
    )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        # Only the start is kept; a receiver that streams forever is not read to its end.
        kept = response.read(RESPONSE_KEEP_BYTES)
        return Answer(
            status=response.status,
            body=kept.decode("utf-8", errors="replace"),
            duration_ms=took(),
        )
    except (OSError, http.client.HTTPException) as exc:
        return Answer(
            status=None, body="", duration_ms=took(), error=f"{type(exc).__name__}: {exc}"[:300]
        )
    finally:
        connection.close()
