"""`make run` as a newcomer uses it: the printed credentials work, and the demo buys and updates.

The target runs for real (migrate, seed_demo, runserver) on a private SQLite file and media
folder, on a port of its own, and is driven over HTTP the way a browser and a WordPress site
would: buy with the test card, read the receipt the console mail backend prints, sign in with
the printed password, check for an update and download the package.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT
from tests.helpers import free_port

pytestmark = pytest.mark.skipif(
    not (ROOT / ".venv" / "bin" / "python").exists(), reason="make run needs the project's .venv"
)


@dataclass
class Demo:
    url: str
    port: int
    stdout: Path
    stderr: Path

    def printed(self) -> str:
        return self.stdout.read_text()

    def mail(self) -> str:
        return self.stderr.read_text()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("make-run")
    # Not 8000: links must follow the port make was given.
    port = free_port()
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"sqlite:///{folder / 'demo.sqlite3'}",
        DJANGO_MEDIA_ROOT=str(folder / "media"),
        PYTHONUNBUFFERED="1",
    )
    stdout, stderr = folder / "stdout.log", folder / "stderr.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}", "RUNSERVER_ARGS=--noreload"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"make run exited:\n{stdout.read_text()}\n{stderr.read_text()}")
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"make run did not serve in 180 s:\n{stderr.read_text()[-3000:]}")
            time.sleep(0.5)
        yield Demo(url=url, port=port, stdout=stdout, stderr=stderr)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _csrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10)
    assert page.status_code == 200, (url, page.status_code)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def _post(
    session: requests.Session, page_url: str, action: str, data: dict[str, str]
) -> requests.Response:
    token = _csrf(session, page_url)
    return session.post(
        action,
        data={"csrfmiddlewaretoken": token, **data},
        headers={"Referer": page_url},
        allow_redirects=False,
        timeout=20,
    )


def test_make_run_prints_where_to_click_on_the_port_it_was_given(demo: Demo) -> None:
    printed = demo.printed()

    assert f"Store:     {demo.url}/" in printed
    assert f"Admin:     {demo.url}/admin/" in printed
    assert ":8000" not in printed


def test_the_printed_credentials_sign_in(demo: Demo) -> None:
    printed = demo.printed()
    email, password = re.search(r"Customer:\s+(\S+) / (\S+)", printed).groups()  # type: ignore[union-attr]
    customer = requests.Session()

    signed_in = _post(
        customer,
        f"{demo.url}/account/login/",
        f"{demo.url}/account/login/",
        {"username": email, "password": password},
    )

    assert signed_in.status_code == 302, signed_in.text[-2000:]
    assert "Your account" in customer.get(f"{demo.url}/account/", timeout=10).text


def test_a_buyer_pays_with_the_test_card_and_every_receipt_link_uses_the_port(demo: Demo) -> None:
    buyer = requests.Session()
    catalogue = buyer.get(f"{demo.url}/plugins/formwell/", timeout=10).text
    tier = re.search(r'name="tier" value="(\d+)"', catalogue)
    assert tier, catalogue[-2000:]
    _post(buyer, f"{demo.url}/plugins/formwell/", f"{demo.url}/cart/add/", {"tier": tier.group(1)})
    _post(buyer, f"{demo.url}/cart/", f"{demo.url}/cart/coupon/", {"code": "LAUNCH20"})
    checkout = buyer.get(f"{demo.url}/checkout/", timeout=10).text
    token = re.search(r'name="checkout_token" value="([^"]+)"', checkout)
    assert token, checkout[-2000:]

    paid = _post(
        buyer,
        f"{demo.url}/checkout/",
        f"{demo.url}/checkout/",
        {
            "checkout_token": token.group(1),
            "email": "grace@example.com",
            "name": "Grace Hopper",
            "country": "US",
            "card_number": "4242 4242 4242 4242",
            "card_expiry": "12/39",
            "card_cvc": "123",
        },
    )

    assert paid.status_code == 303, paid.text[-2000:]
    confirmation = buyer.get(demo.url + paid.headers["Location"], timeout=10).text
    assert re.search(r'<code class="key license-key">[A-Z0-9-]{20,}</code>', confirmation)
    deadline = time.monotonic() + 20
    while "grace@example.com" not in demo.mail() and time.monotonic() < deadline:
        time.sleep(0.2)
    receipt = demo.mail()[demo.mail().index("grace@example.com") :]
    links = set(re.findall(r"https?://[^\s\"'<>]+", receipt))
    ours = {link for link in links if "127.0.0.1" in link or "localhost" in link}
    assert ours, receipt[:3000]
    assert all(link.startswith(f"{demo.url}/") for link in ours), sorted(ours)
    assert any("/account/password/" in link for link in ours)


def test_the_printed_license_gets_an_update_and_its_package(demo: Demo) -> None:
    printed = demo.printed()
    key = re.search(r"License:\s+(\S+)", printed).group(1)  # type: ignore[union-attr]
    site = re.search(r"Demo site:\s+(\S+)", printed).group(1)  # type: ignore[union-attr]
    wordpress = requests.Session()
    wordpress.headers["User-Agent"] = f"WordPress/6.7.1; {site}"

    metadata = wordpress.get(
        f"{demo.url}/updates/puc/formwell/",
        params={"license_key": key, "installed_version": "1.0.0", "php": "8.2"},
        timeout=10,
    )

    assert metadata.status_code == 200, metadata.text
    document = metadata.json()
    assert document["version"] and document["download_url"].startswith(f"{demo.url}/updates/")
    package = wordpress.get(document["download_url"], timeout=20)
    assert package.status_code == 200 and package.content[:2] == b"PK"
