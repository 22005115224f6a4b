"""The migration files form one consistent graph (the suite itself runs without them)."""

from __future__ import annotations

from django.db.migrations.loader import MigrationLoader
from django.test import override_settings


def test_every_migration_dependency_exists() -> None:
    # pytest-django's --no-migrations hides the migration modules once a database is set up.
    with override_settings(MIGRATION_MODULES={}):
        loader = MigrationLoader(None, ignore_no_migrations=True)

    loader.graph.validate_consistency()
    leaves = loader.graph.leaf_nodes()
    assert {app for app, _ in leaves} >= {"core", "licenses", "updates", "store", "notifications"}
    assert len({app for app, _ in leaves}) == len(leaves), f"more than one leaf: {leaves}"
