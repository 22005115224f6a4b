"""The load's buyers retry a GET once on a kept-alive connection the server had closed.

A server of the test's own answers the first request on a connection and keeps it open, then
reads the second request on that connection and closes it without a response, as nginx does
when a connection idle for its keepalive_timeout is reused at that moment. `make load` saw one
such error in the slow-SMTP window (a buyer idle for a slow receipt) and counted it as a 5xx.
"""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

import pytest
import requests

from tests.helpers import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "load"))

from browser import browser_retries

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


class DroppingServer:
    """First request on a connection: 200, kept alive. Second: closed, no answer."""

    def __init__(self) -> None:
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    @staticmethod
    def _one(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(OK)
            conn.recv(65536)  # the reused connection's request: dropped unanswered

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def server():
    running = DroppingServer()
    yield running
    running.close()


def test_a_get_on_a_dropped_connection_is_sent_again_on_a_new_one(server):
    session = requests.Session()
    browser_retries(session)
    url = f"http://127.0.0.1:{server.port}/account/"

    assert session.get(url, timeout=5).text == "ok"
    assert session.get(url, timeout=5).text == "ok"  # the dropped one, retried
    assert server.connections == 2


def test_without_it_the_second_get_fails_and_a_post_is_never_repeated(server):
    plain = requests.Session()
    url = f"http://127.0.0.1:{server.port}/account/"
    plain.get(url, timeout=5)
    with pytest.raises(requests.ConnectionError):
        plain.get(url, timeout=5)

    retrying = requests.Session()
    browser_retries(retrying)
    retrying.get(url, timeout=5)
    with pytest.raises(requests.ConnectionError):
        retrying.post(url, data={"a": "b"}, timeout=5)
