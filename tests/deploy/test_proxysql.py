"""ProxySQL's configuration (deploy/proxysql) and the Django settings that go through it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import libconf
import pytest

from tests.deploy.tools import DEPLOY

PROXYSQL = DEPLOY / "proxysql"
SECRETS = {
    "DEPOT_DB_PASSWORD": "db-pass",
    "DEPOT_DB_READER_PASSWORD": "reader-pass",
    "PROXYSQL_MONITOR_PASSWORD": "monitor-pass",
    "PROXYSQL_ADMIN_PASSWORD": "admin-pass",
}


def _render(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DEPOT_DB_", "PROXYSQL_"))}
    return subprocess.run(
        ["sh", str(PROXYSQL / "render.sh"), str(PROXYSQL / "proxysql.cnf"), str(tmp_path / "out")],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def config(tmp_path) -> dict:
    result = _render(tmp_path, **SECRETS)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "out") as handle:
        return libconf.load(handle)


def test_the_rendered_config_parses_and_carries_the_credentials(config):
    users = {u["username"]: u for u in config["mysql_users"]}
    assert users["depot"]["password"] == "db-pass"
    assert users["depot_reader"]["password"] == "reader-pass"
    assert config["mysql_variables"]["monitor_password"] == "monitor-pass"
    assert config["admin_variables"]["admin_credentials"] == "admin:admin-pass"


def test_writes_go_to_the_primary_and_the_reader_user_to_the_replica(config):
    servers = config["mysql_servers"]
    groups = config["mysql_replication_hostgroups"][0]
    writer, reader = groups["writer_hostgroup"], groups["reader_hostgroup"]
    assert {s["address"] for s in servers if s["hostgroup"] == writer} == {"mariadb-primary"}
    assert "mariadb-replica" in {s["address"] for s in servers if s["hostgroup"] == reader}
    users = {u["username"]: u for u in config["mysql_users"]}
    assert users["depot"]["default_hostgroup"] == writer
    assert users["depot_reader"]["default_hostgroup"] == reader
    assert all(u["transaction_persistent"] == 1 for u in users.values())
    (rule,) = config["mysql_query_rules"]
    assert (rule["username"], rule["destination_hostgroup"]) == ("depot_reader", reader)
    assert config["mysql_variables"]["multiplexing"] is True


def test_the_pool_fits_under_the_servers_max_connections_as_the_readme_says(config):
    # compose: one ProxySQL, MariaDB started with --max-connections=300, 20 kept in reserve.
    for server in config["mysql_servers"]:
        assert 1 * server["max_connections"] <= 300 - 20
    readme = (PROXYSQL / "README.md").read_text()
    assert "max_connections" in readme
    assert re.search(r"hosts \S processes \S threads", readme)


def test_a_missing_or_unsafe_secret_is_refused(tmp_path):
    missing = _render(tmp_path, **{**SECRETS, "DEPOT_DB_PASSWORD": ""})
    assert missing.returncode != 0 and "DEPOT_DB_PASSWORD is not set" in missing.stderr
    quoted = _render(tmp_path, **{**SECRETS, "PROXYSQL_ADMIN_PASSWORD": 'a"b'})
    assert quoted.returncode != 0 and "double quote" in quoted.stderr


def test_database_proxysql_leaves_the_session_settings_to_the_server(monkeypatch):
    pytest.importorskip("MySQLdb", reason="mysqlclient is not installed (requirements/mysql.txt)")
    from django.db.backends.mysql.base import DatabaseWrapper

    from config.settings.base import database_from_url

    monkeypatch.setenv("DATABASE_PROXYSQL", "true")
    through_proxysql = database_from_url("mysql://depot:pw@proxysql:6033/depot")
    monkeypatch.setenv("DATABASE_PROXYSQL", "false")
    direct = database_from_url("mysql://depot:pw@mariadb:3306/depot")

    assert "init_command" not in through_proxysql["OPTIONS"]
    assert "SET sql_mode" in direct["OPTIONS"]["init_command"]
    # Django's MySQL backend then sends no SET SESSION TRANSACTION ISOLATION LEVEL either.
    wrapper = DatabaseWrapper({**through_proxysql, "NAME": "depot", "TIME_ZONE": None})
    params = wrapper.get_connection_params()
    assert wrapper.isolation_level is None and "init_command" not in params
    assert DatabaseWrapper({**direct, "TIME_ZONE": None}).get_connection_params()["init_command"]
