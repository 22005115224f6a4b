"""db_backup then db_restore on the real MariaDB and moto, and everything around them.

Transactional tests: mariadb-dump reads over its own connection, so the rows it must see are
committed. Each restore goes into a new database named here and dropped afterwards.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import MySQLdb
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from apps.licenses.models import License
from apps.licenses.selectors import license_key_digest, license_key_reveal
from tests.builders import buy, license_make, shop_create

pytestmark = [pytest.mark.real_services, pytest.mark.django_db(transaction=True)]


def _sql(statement: str, database: str = "", args: Any = None) -> list[tuple[Any, ...]]:
    db = settings.DATABASES["default"]
    conn = MySQLdb.connect(
        host=db["HOST"], port=int(db["PORT"] or 3306), user=db["USER"], passwd=db["PASSWORD"],
        db=database, charset="utf8mb4",
    )  # fmt: skip
    try:
        cursor = conn.cursor()
        cursor.execute(statement, args)
        rows = list(cursor.fetchall())
        conn.commit()
        return rows
    finally:
        conn.close()


@pytest.fixture
def backups(s3_endpoint: dict[str, str], settings: Any) -> Any:
    """Backups to this test's own prefix of the run's moto bucket; yield the S3 client."""
    settings.DEPOT_BACKUP_DIR = ""
    settings.DEPOT_BACKUP_BUCKET = s3_endpoint["bucket"]
    settings.DEPOT_BACKUP_PREFIX = f"backups-{uuid.uuid4().hex[:8]}/"
    settings.DEPOT_BACKUP_S3_ENDPOINT_URL = s3_endpoint["endpoint"]
    settings.DEPOT_BACKUP_S3_REGION = "us-east-1"
    settings.DEPOT_BACKUP_DATABASE_URL = ""
    return boto3.client("s3", endpoint_url=s3_endpoint["endpoint"], region_name="us-east-1")


@pytest.fixture
def new_database() -> Iterator[Callable[[], str]]:
    """Name fresh databases on the shared server; drop every one at teardown."""
    made: list[str] = []

    def name() -> str:
        made.append(f"{connection.settings_dict['NAME']}_restore_{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield name
    for database in made:
        _sql(f"DROP DATABASE IF EXISTS `{database}`")


@pytest.fixture
def shop_data() -> dict[str, Any]:
    """Two paid orders, licenses with activations; return the keys and the personal data."""
    shop = shop_create()
    client = Client()
    buy(client, shop.personal, email="ada@lovelace.example", name="Ada Lovelace")
    client = Client()
    buy(client, shop.business, email="grace@hopper.example", name="Grace Hopper")
    first = license_make(shop.product, email="ada@lovelace.example", activate="https://ada.example")
    second = license_make(
        shop.product, email="grace@hopper.example", activate="https://navy.example"
    )
    return {
        "keys": [first.key, second.key],
        "secrets": [
            "ada@lovelace.example", "grace@hopper.example", "Ada Lovelace", "Grace Hopper",
            "ada.example", "navy.example", first.key, second.key,
            first.license.key_hash, second.license.key_hash,
        ],
    }  # fmt: skip


def _rows(database: str, table: str) -> list[tuple[Any, ...]]:
    return _sql(f"SELECT * FROM `{table}` ORDER BY id", database)  # noqa: S608


def _keys(bucket: str, s3: Any) -> set[str]:
    prefix = settings.DEPOT_BACKUP_PREFIX
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", [])}


def test_a_backup_restores_into_a_new_database_with_the_same_rows(
    backups: Any, new_database: Callable[[], str], shop_data: dict[str, Any], capsys: Any
):
    # Given a shop with orders, licenses and activations, backed up to S3
    call_command("db_backup")
    source = connection.settings_dict["NAME"]
    # When it is restored into a new, empty database
    target = new_database()
    call_command("db_restore", "latest", "--database", target)
    # Then the main tables hold the same rows, column for column
    out = capsys.readouterr()
    counts = {t: _sql(f"SELECT COUNT(*) FROM {t}", source)[0][0]  # noqa: S608
              for t in ["store_order", "licenses_license", "licenses_activation"]}  # fmt: skip
    assert counts["licenses_activation"] >= 2
    assert (
        f"imported into {target}: orders {counts['store_order']}, "
        f"licenses {counts['licenses_license']}, activations {counts['licenses_activation']}"
    ) in out.out
    assert "db_backup:" in out.err and "MB done" in out.err  # progress on stderr
    for table in ["store_order", "licenses_license", "licenses_activation", "auth_user",
                  "store_payment", "updates_release"]:  # fmt: skip
        assert _rows(target, table) == _rows(source, table), table
    # and the keys still verify against the restored rows: found by their digest, and
    # decrypted with this installation's key
    for key in shop_data["keys"]:
        [(encrypted, status)] = _sql(
            "SELECT key_encrypted, status FROM licenses_license WHERE key_hash = %s",
            target,
            [license_key_digest(key)],
        )
        assert status == "active"
        assert license_key_reveal(license=License(key_encrypted=encrypted)) == key


@pytest.fixture
def migrations_table() -> Iterator[None]:
    """A django_migrations table (the suite's database is made without migrations)."""
    _sql(
        "CREATE TABLE django_migrations (id INT AUTO_INCREMENT PRIMARY KEY, "
        "app VARCHAR(255), name VARCHAR(255), applied DATETIME)",
        connection.settings_dict["NAME"],
    )
    for app, name in [("licenses", "0001_initial"), ("licenses", "0004_key_hint"),
                      ("store", "0002_coupons")]:  # fmt: skip
        _sql(
            "INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, NOW())",
            connection.settings_dict["NAME"],
            [app, name],
        )
    yield
    _sql("DROP TABLE django_migrations", connection.settings_dict["NAME"])


def test_the_manifest_says_what_the_dump_holds(
    backups: Any, shop_data: dict[str, Any], migrations_table: None
):
    call_command("db_backup")
    [name] = [k for k in _keys(settings.DEPOT_BACKUP_BUCKET, backups) if k.endswith(".json")]
    manifest = json.loads(
        backups.get_object(Bucket=settings.DEPOT_BACKUP_BUCKET,
                           Key=settings.DEPOT_BACKUP_PREFIX + name)["Body"].read()
    )  # fmt: skip
    dump = backups.get_object(
        Bucket=settings.DEPOT_BACKUP_BUCKET, Key=settings.DEPOT_BACKUP_PREFIX + manifest["file"]
    )["Body"].read()
    assert manifest["sha256"] == hashlib.sha256(dump).hexdigest()
    assert manifest["size"] == len(dump)
    source = connection.settings_dict["NAME"]
    tables = {"orders": "store_order", "licenses": "licenses_license",
              "activations": "licenses_activation", "releases": "updates_release",
              "users": "auth_user"}  # fmt: skip
    assert manifest["row_counts"] == {
        label: _sql(f"SELECT COUNT(*) FROM {table}", source)[0][0]  # noqa: S608
        for label, table in tables.items()
    }
    assert manifest["row_counts"]["orders"] == 2
    assert manifest["migrations"] == {"licenses": "0004_key_hint", "store": "0002_coupons"}
    assert manifest["depot_version"]
    sql = gzip.decompress(dump).decode()
    assert "-- Dump completed" in sql and "CREATE TABLE `store_order`" in sql


def test_a_corrupted_download_fails_its_checksum_and_imports_nothing(
    backups: Any, new_database: Callable[[], str], shop_data: dict[str, Any]
):
    # Given a backup whose dump was damaged in storage (one byte changed, same size)
    call_command("db_backup")
    bucket, prefix = settings.DEPOT_BACKUP_BUCKET, settings.DEPOT_BACKUP_PREFIX
    [dump] = [k for k in _keys(bucket, backups) if k.endswith(".sql.gz")]
    data = bytearray(backups.get_object(Bucket=bucket, Key=prefix + dump)["Body"].read())
    data[len(data) // 2] ^= 0xFF
    backups.put_object(Bucket=bucket, Key=prefix + dump, Body=bytes(data))
    manifest = json.loads(
        backups.get_object(Bucket=bucket, Key=prefix + dump.replace(".sql.gz", ".json"))[
            "Body"
        ].read()
    )
    # When it is restored
    target = new_database()
    with pytest.raises(CommandError) as refused:
        call_command("db_restore", "latest", "--database", target)
    # Then the error names both checksums, and the target has no table
    found = hashlib.sha256(data).hexdigest()
    assert str(refused.value) == (
        f"the download's SHA-256 is {found}, the manifest says {manifest['sha256']}: "
        "the file is damaged; nothing was imported"
    )
    assert _sql(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s", "", [target]
    ) == [(0,)]


def test_a_database_with_tables_is_refused_without_force(
    backups: Any, new_database: Callable[[], str], shop_data: dict[str, Any]
):
    call_command("db_backup")
    target = new_database()
    _sql(f"CREATE DATABASE `{target}`")
    _sql("CREATE TABLE precious (id INT PRIMARY KEY)", target)
    _sql("INSERT INTO precious VALUES (42)", target)
    with pytest.raises(CommandError, match=f"the database {target} is not empty \\(1 tables\\)"):
        call_command("db_restore", "latest", "--database", target)
    assert _sql("SELECT id FROM precious", target) == [(42,)]
    # With --force its tables are dropped and the backup loaded
    call_command("db_restore", "latest", "--database", target, "--force")
    tables = {t for (t,) in _sql("SHOW TABLES", target)}
    assert "precious" not in tables and "store_order" in tables


def test_scrub_leaves_no_original_email_name_site_or_key(
    backups: Any, new_database: Callable[[], str], shop_data: dict[str, Any]
):
    # Given a backup of a shop with customers
    call_command("db_backup")
    target = new_database()
    # When it is restored for a developer with --scrub
    call_command("db_restore", "latest", "--database", target, "--scrub")
    # Then a full dump of the copy names none of the customers, sites or keys
    db = settings.DATABASES["default"]
    dump = subprocess.run(
        ["mariadb-dump", "-h", db["HOST"], "-P", str(db["PORT"] or 3306), "-u", db["USER"],
         "--skip-extended-insert", target],
        capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    assert "INSERT INTO `store_order`" in dump
    for secret in shop_data["secrets"]:
        assert secret not in dump, secret
    # and the shapes stay: as many orders, one pseudonym per customer across tables
    orders = _sql("SELECT email, name, gateway_reference FROM store_order ORDER BY id", target)
    licenses = _sql("SELECT email FROM licenses_license ORDER BY id", target)
    assert {o[0] for o in orders} == {lic[0] for lic in licenses}
    assert all(o[0].endswith("@example.invalid") and o[2] == "" for o in orders)
    assert len({o[0] for o in orders}) == 2
    passwords = _sql("SELECT password FROM auth_user", target)
    assert passwords and all(p.startswith("!") for (p,) in passwords)
    assert _sql("SELECT COUNT(*) FROM django_session", target) == [(0,)]


def _fake(s3: Any, bucket: str, name: str) -> None:
    prefix = settings.DEPOT_BACKUP_PREFIX
    s3.put_object(Bucket=bucket, Key=f"{prefix}{name}.sql.gz", Body=b"x")
    manifest = {"name": name, "sha256": hashlib.sha256(b"x").hexdigest(), "size": 1}
    s3.put_object(Bucket=bucket, Key=f"{prefix}{name}.json", Body=json.dumps(manifest).encode())


def test_db_backup_keeps_exactly_what_the_retention_promises(
    backups: Any, shop_data: dict[str, Any], capsys: Any
):
    # Given nightly backups from Monday 2 to Sunday 22 November 2026, one without its
    # manifest, and a file of someone else's under the prefix
    bucket = settings.DEPOT_BACKUP_BUCKET
    for day in range(2, 23):
        _fake(backups, bucket, f"depot-202611{day:02d}T033000Z")
    prefix = settings.DEPOT_BACKUP_PREFIX
    backups.put_object(Bucket=bucket, Key=f"{prefix}depot-20261101T033000Z.sql.gz", Body=b"x")
    backups.put_object(Bucket=bucket, Key=f"{prefix}notes.txt", Body=b"x")
    # When tonight's backup runs keeping 3 daily and 3 weekly
    call_command("db_backup", "--keep-daily", "3", "--keep-weekly", "3")
    # Then the daily ones are tonight's, the 22nd and the 21st; the weekly ones the newest of
    # the three latest ISO weeks that have a backup: tonight's (week 49; week 48 has none),
    # the 22nd (week 47) and Sunday the 15th (week 46). Of the rest only complete backups of
    # this tool's naming are deleted.
    names = {k.rsplit(".", 2)[0] if k.endswith(".sql.gz") else k.rsplit(".", 1)[0]
             for k in _keys(bucket, backups)}  # fmt: skip
    tonight = [n for n in names if n.startswith("depot-") and n > "depot-20261123"]
    assert len(tonight) == 1
    assert names == {
        tonight[0], "depot-20261122T033000Z", "depot-20261121T033000Z",
        "depot-20261115T033000Z", "depot-20261101T033000Z", "notes",
    }  # fmt: skip
    assert "deleted 18 old" in capsys.readouterr().out


def test_db_list_shows_size_age_and_checksum(backups: Any, shop_data: dict[str, Any], capsys):
    call_command("db_backup")
    capsys.readouterr()
    call_command("db_list")
    out = capsys.readouterr().out
    [manifest_key] = [k for k in _keys(settings.DEPOT_BACKUP_BUCKET, backups) if k.endswith("json")]
    sha = json.loads(
        backups.get_object(
            Bucket=settings.DEPOT_BACKUP_BUCKET, Key=settings.DEPOT_BACKUP_PREFIX + manifest_key
        )["Body"].read()
    )["sha256"]
    assert out.startswith("1 backups in s3://")
    assert sha in out and "KB" in out and "minutes ago" in out


def test_the_metrics_carry_the_time_of_the_newest_backup(backups: Any, shop_data: dict[str, Any]):
    from django.utils import timezone

    before = timezone.now().timestamp()
    call_command("db_backup", "--no-prune")
    body = Client().get("/metrics").content.decode()
    [line] = [ln for ln in body.splitlines()
              if ln.startswith("depot_backup_last_success_timestamp_seconds ")]  # fmt: skip
    assert float(line.split()[1]) >= before - 1


def test_a_local_export_uploads_and_a_tampered_file_is_not_uploaded(
    backups: Any, shop_data: dict[str, Any], tmp_path: Any
):
    call_command("db_export", "--output", str(tmp_path), stdout=io.StringIO())
    [dump] = list(tmp_path.glob("*.sql.gz"))
    data = bytearray(dump.read_bytes())
    data[-20] ^= 0x01
    dump.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="the file is damaged; nothing was uploaded"):
        call_command("db_upload", str(dump))
    assert not _keys(settings.DEPOT_BACKUP_BUCKET, backups)
