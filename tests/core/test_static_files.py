"""The web role serves its own static files (WhiteNoise), so a one-host install needs no nginx."""

import json
from pathlib import Path

from tests.core.test_roles import _run

# Under production settings: collect into DJANGO_STATIC_ROOT, then ask the WSGI app (the test
# client runs the whole middleware stack) for the admin's stylesheet by its hashed name.
FETCH = """
import json, django
django.setup()
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.test import Client
call_command("collectstatic", "--no-input", verbosity=0)
url = staticfiles_storage.url("admin/css/base.css")
answers = []
for accept in ("", "gzip"):
    response = Client(HTTP_HOST="shop.example.com").get(
        url, secure=True, HTTP_ACCEPT_ENCODING=accept
    )
    body = b"".join(response.streaming_content) if response.streaming else response.content
    answers.append({
        "status": response.status_code,
        "cache_control": response.get("Cache-Control", ""),
        "encoding": response.get("Content-Encoding", ""),
        "css": b"DJANGO Admin styles" in body,
    })
print(json.dumps({"url": url, "answers": answers}))
"""


def test_production_web_role_serves_the_admin_css_with_far_future_caching(tmp_path: Path):
    # Given the web role's production settings and a collectstatic into a fresh static root
    static_root = tmp_path / "static"

    # When the admin's stylesheet is asked for by its hashed URL, plain and gzip-encoded
    done = _run("config.settings.production", FETCH, {"DJANGO_STATIC_ROOT": str(static_root)})

    # Then the app itself answers it, cacheable for a year or more and immutable
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["url"].startswith("/static/admin/css/base.")
    assert seen["url"] != "/static/admin/css/base.css"  # a hashed name, safe to cache for long
    plain, gzipped = seen["answers"]
    assert plain["status"] == 200
    assert plain["css"]
    max_age = int(plain["cache_control"].split("max-age=")[1].split(",")[0])
    assert max_age >= 365 * 24 * 3600
    assert "immutable" in plain["cache_control"]
    # and a client that takes gzip gets the .gz written at collectstatic
    assert gzipped["status"] == 200
    assert gzipped["encoding"] == "gzip"
    assert (static_root / (seen["url"].removeprefix("/static/") + ".gz")).is_file()
