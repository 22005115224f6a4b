"""WordPress in the loop: Debian's `wordpress` package run from PHP CLI against a live Depot.

Each test gets a site of its own: a folder under tmp_path with its own wp-config.php and
wp-content (core stays in /usr/share/wordpress, untouched, and nothing under /etc/wordpress is
read), on a throwaway MariaDB database `wp_test_<pid>_<n>` that is dropped afterwards. The
PHP step scripts in tests/wordpress/php/ print one `DEPOT-RESULT <json>` line each.

Tests marked `wordpress` are skipped, with the reason, when PHP CLI, its mysqli/sodium
extensions or Debian's wordpress package are missing (`make test` as root installs them);
under CI=true they fail instead. They need MariaDB, so they are also `real_services`.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from tests.conftest import REAL

WORDPRESS = Path(os.environ.get("DEPOT_WORDPRESS", "/usr/share/wordpress"))
PHP = os.environ.get("DEPOT_PHP", "php")
SCRIPTS = Path(__file__).resolve().parent / "php"
CLIENT = Path(__file__).resolve().parents[2] / "docs" / "clients" / "depot-updates-client.php"
STEP_TIMEOUT = 90  # seconds for one PHP step; a download or an update takes about one
_databases = itertools.count(1)


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def wordpress_missing() -> str | None:
    """Return why the WordPress tests cannot run here; None when they can."""
    php = shutil.which(PHP)
    if php is None:
        return f"no PHP CLI ({PHP}) on PATH (`make test` as root installs Debian's php-cli)"
    if not (WORDPRESS / "wp-settings.php").is_file():
        return f"no WordPress core at {WORDPRESS} (`make test` as root installs Debian's wordpress)"
    modules = subprocess.run(
        [php, "-m"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.lower()
    for module in ("mysqli", "sodium"):
        if module not in modules.split():
            return f"PHP has no {module} extension (Debian's php-mysql / php-common bring it)"
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "wordpress: runs Debian's WordPress from PHP CLI (tests/wordpress)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _ci():
        return  # pytest_runtest_setup below fails these tests with the reason
    missing = wordpress_missing() if any(i.get_closest_marker("wordpress") for i in items) else None
    if missing is None:
        return
    skip = pytest.mark.skip(reason=f"WordPress tests need PHP and WordPress: {missing}")
    for item in items:
        if item.get_closest_marker("wordpress") is not None:
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("wordpress") is None or not _ci():
        return
    missing = wordpress_missing()
    if missing is not None:
        pytest.fail(f"CI=true needs the WordPress tests, but {missing}", pytrace=False)


class PhpStepFailed(AssertionError):
    pass


@dataclass
class WordPressSite:
    """One WordPress site on disk and in MariaDB, driven step by step from PHP CLI."""

    root: Path
    home: str
    updates_url: str
    database: str
    log: list[str] = field(default_factory=list)

    @property
    def plugins(self) -> Path:
        return self.root / "wp-content" / "plugins"

    def run(self, script: str, *args: str) -> dict[str, Any]:
        """Run tests/wordpress/php/<script> in this site; return its DEPOT-RESULT as data."""
        command = [PHP, "-d", "display_errors=stderr", "-d", "memory_limit=256M"]
        command += [str(SCRIPTS / script), *args]
        env = {**os.environ, "DEPOT_WP_SITE": str(self.root), "DEPOT_WP_HOME": self.home}
        started = time.monotonic()
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=STEP_TIMEOUT, env=env, check=False
        )
        self.log.append(f"{script}: {time.monotonic() - started:.2f} s")
        results = [
            line.removeprefix("DEPOT-RESULT ")
            for line in done.stdout.splitlines()
            if line.startswith("DEPOT-RESULT ")
        ]
        if done.returncode != 0 or not results:
            raise PhpStepFailed(
                f"{script} exited {done.returncode}\nstdout:\n{done.stdout[-4000:]}\n"
                f"stderr:\n{done.stderr[-4000:]}"
            )
        return json.loads(results[-1])

    def plugin_write(self, slug: str, version: str) -> str:
        """Install the vendor's plugin `slug` at `version` (shipping the client); its file."""
        folder = self.plugins / slug
        (folder / "includes").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CLIENT, folder / "includes" / "depot-updates-client.php")
        (folder / f"{slug}.php").write_text(
            plugin_main_file(slug=slug, version=version, updates_url=self.updates_url)
        )
        return f"{slug}/{slug}.php"


def plugin_main_file(*, slug: str, version: str, updates_url: str) -> str:
    """The plugin's main file as docs/clients/README.md ("The native client") tells vendors."""
    host = urlsplit(updates_url).hostname
    return f"""<?php
/**
 * Plugin Name: {slug.title()}
 * Version:     {version}
 * Update URI:  {updates_url}/{slug}
 * Requires at least: 5.8
 */

defined( 'ABSPATH' ) || exit;

require_once __DIR__ . '/includes/depot-updates-client.php';
add_filter( 'update_plugins_{host}', 'depot_updates_check', 10, 4 );
"""


def _wp_config(*, site: Path, home: str, database: str, updates_url: str, ports: str) -> str:
    db = settings.DATABASES["default"]
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}"
    salts = "\n".join(
        f"define( '{name}', '{os.urandom(24).hex()}' );"
        for name in (
            "AUTH_KEY",
            "SECURE_AUTH_KEY",
            "LOGGED_IN_KEY",
            "NONCE_KEY",
            "AUTH_SALT",
            "SECURE_AUTH_SALT",
            "LOGGED_IN_SALT",
            "NONCE_SALT",
        )
    )
    public_key = depot_public_key()
    return f"""<?php
// Written by tests/wordpress/conftest.py for one test; core is Debian's, read-only.
define( 'DB_NAME', '{database}' );
define( 'DB_USER', {json.dumps(db["USER"])} );
define( 'DB_PASSWORD', {json.dumps(db["PASSWORD"] or "")} );
define( 'DB_HOST', '{host}' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
$table_prefix = 'wp_';
{salts}
define( 'WP_HOME', '{home.rstrip("/")}' );
define( 'WP_SITEURL', '{home.rstrip("/")}' );
define( 'WP_CONTENT_DIR', '{site / "wp-content"}' );
define( 'WP_TEMP_DIR', '{site / "tmp"}/' );
define( 'FS_METHOD', 'direct' );
define( 'DISABLE_WP_CRON', true );
define( 'WP_ENVIRONMENT_TYPE', 'production' );
define( 'WP_DEBUG', false );
define( 'DEPOT_TEST_UPDATES_URL', '{updates_url}' );
define( 'DEPOT_TEST_LOOPBACK_PORTS', '{ports}' );
define( 'DEPOT_TEST_PUBLIC_KEY', '{public_key}' );
define( 'ABSPATH', '{WORDPRESS}/' );
require_once ABSPATH . 'wp-settings.php';
"""


def depot_public_key() -> str:
    """The public key a vendor gives WordPress, as `manage.py signing_key --public` prints it."""
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("signing_key", "--public", stdout=out)
    return out.getvalue().strip()


def _mariadb() -> Any:
    import MySQLdb

    db = settings.DATABASES["default"]
    return MySQLdb.connect(
        host=db["HOST"] or "127.0.0.1",
        port=int(db["PORT"] or 3306),
        user=db["USER"],
        passwd=db["PASSWORD"] or "",
        connect_timeout=10,
    )


@pytest.fixture
def wordpress_site(
    request: pytest.FixtureRequest, tmp_path: Path, live_server: object
) -> Iterator[WordPressSite]:
    """Install a WordPress site (own folder, own database) that talks to the live Depot."""
    if not REAL:
        pytest.skip("needs MariaDB for the WordPress site (embedded default in use)")
    updates_url = str(live_server.url).rstrip("/")  # type: ignore[attr-defined]
    ports = [str(urlsplit(updates_url).port)]
    s3 = os.environ.get("DEPOT_TEST_S3_ENDPOINT", "")
    if s3:  # downloads redirect there (a pre-signed URL on the same loopback address)
        ports.append(str(urlsplit(s3).port))
    database = f"wp_test_{os.getpid()}_{next(_databases)}"
    site = tmp_path / "wordpress"
    for folder in ("wp-content/plugins", "wp-content/mu-plugins", "wp-content/upgrade", "tmp"):
        (site / folder).mkdir(parents=True)
    shutil.copyfile(
        SCRIPTS / "mu-plugin.php", site / "wp-content" / "mu-plugins" / "depot-test.php"
    )
    # A production-looking address: activations take a site slot as a customer's live site does.
    home = "https://native-client.example.com/"
    (site / "wp-config.php").write_text(
        _wp_config(
            site=site, home=home, database=database, updates_url=updates_url, ports=",".join(ports)
        )
    )
    conn = _mariadb()
    try:
        conn.cursor().execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    finally:
        conn.close()
    wp = WordPressSite(root=site, home=home, updates_url=updates_url, database=database)
    try:
        installed = wp.run("install.php")
        assert installed["installed"] is True, installed
        yield wp
    finally:
        print(f"\ndepot: WordPress steps ({database}): " + "; ".join(wp.log))
        conn = _mariadb()
        try:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")
        finally:
            conn.close()
