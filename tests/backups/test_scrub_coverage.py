"""Every text column of every model is scrubbed or kept on purpose (apps/backups/scrub.py)."""

from __future__ import annotations

from django.apps import apps

from apps.backups.scrub import SCRUB_KEEPS, SCRUB_STATEMENTS, scrub_sql

TEXT = {"CharField", "EmailField", "TextField", "JSONField", "GenericIPAddressField",
        "SlugField", "URLField", "BinaryField"}  # fmt: skip


def test_a_new_text_column_must_be_scrubbed_or_kept_on_purpose():
    emptied = {table for table, columns in SCRUB_STATEMENTS if columns is None}
    rewritten = {table: set(columns) for table, columns in SCRUB_STATEMENTS if columns}
    unaccounted = []
    for model in apps.get_models():
        table = model._meta.db_table
        if table in emptied:
            continue
        for field in model._meta.concrete_fields:
            if field.get_internal_type() not in TEXT:
                continue
            if field.column in rewritten.get(table, set()) | SCRUB_KEEPS.get(table, set()):
                continue
            unaccounted.append(f"{table}.{field.column}")
    assert not unaccounted, f"say in apps/backups/scrub.py what --scrub does to: {unaccounted}"


def test_the_statements_name_every_table_once_and_use_the_salt():
    tables = [table for table, _ in SCRUB_STATEMENTS]
    assert len(tables) == len(set(tables))
    statements = scrub_sql()
    assert statements[0].startswith("UPDATE `auth_user` SET `username` = CONCAT('user-', id)")
    assert "DELETE FROM `django_session`" in statements
    assert all("@salt" in s for s in statements if "SHA2" in s)
