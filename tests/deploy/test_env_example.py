"""deploy/compose/.env.example names every variable the production settings read."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import urlsplit

from tests.deploy.tools import DEPLOY, ROOT

SETTINGS = ROOT / "config" / "settings"
ENV_EXAMPLE = DEPLOY / "compose" / ".env.example"
ENV_METHODS = {"bool", "int", "float", "str", "list", "tuple", "dict", "json", "url", "db_url"}


def _env_name(call: ast.AST) -> str | None:
    """The variable a django-environ call (`env(...)`, `env.int(...)`, ...) reads, if it is one."""
    if not isinstance(call, ast.Call) or not call.args:
        return None
    func = call.func
    is_env = (isinstance(func, ast.Name) and func.id == "env") or (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "env"
        and func.attr in ENV_METHODS
    )
    first = call.args[0]
    if is_env and isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def _env_reads(node: ast.AST) -> set[str]:
    """Names read through django-environ anywhere under `node`."""
    return {name for call in ast.walk(node) if (name := _env_name(call))}


def _assigned(statement: ast.stmt) -> set[str]:
    targets = statement.targets if isinstance(statement, ast.Assign) else []
    if isinstance(statement, ast.AnnAssign):
        targets = [statement.target]
    return {t.id for t in targets if isinstance(t, ast.Name)}


def production_reads() -> set[str]:
    """Every variable config.settings.production reads, its own and base.py's that it keeps.

    A base.py setting that production.py assigns again without using the base value (DEBUG =
    False) is not read in production; everything else base.py reads, in its settings and in
    the helpers production calls (database_from_url, redis_cache, s3_storage), is.
    """
    production = ast.parse((SETTINGS / "production.py").read_text())
    replaced = set()
    for statement in production.body:
        for name in _assigned(statement):
            value = getattr(statement, "value", None)
            uses_itself = value is not None and any(
                isinstance(n, ast.Name) and n.id == name for n in ast.walk(value)
            )
            if not uses_itself:
                replaced.add(name)
    base = ast.parse((SETTINGS / "base.py").read_text())
    names = _env_reads(production)
    for statement in base.body:
        if _assigned(statement) and _assigned(statement) <= replaced:
            continue
        names |= _env_reads(statement)
    return names


def example() -> dict[str, str]:
    """The variables .env.example sets, in the KEY=value form compose reads."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value
    return values


def deployment_reads() -> set[str]:
    """Variables the deployment files read besides the settings (compose, entrypoints, servers)."""
    files = [
        DEPLOY / "compose" / "compose.yaml",
        DEPLOY / "docker" / "entrypoint.sh",
        DEPLOY / "docker" / "healthcheck.py",
        DEPLOY / "granian" / "updates.sh",
        DEPLOY / "proxysql" / "render.sh",
        *sorted((DEPLOY / "gunicorn").glob("*.py")),
    ]
    pattern = re.compile(r"\$\{([A-Z][A-Z0-9_]*)|environ\.get\(\s*\"([A-Z][A-Z0-9_]*)\"")
    return {a or b for path in files for a, b in pattern.findall(Path(path).read_text())}


def test_the_example_names_every_variable_production_reads():
    missing = production_reads() - set(example())
    assert not missing, f"not in deploy/compose/.env.example: {sorted(missing)}"


def test_the_reading_of_production_settings_sees_the_variables_it_must():
    # Guards the AST reading above: required, optional, helper-only and overridden names.
    names = production_reads()
    assert {"DJANGO_SECRET_KEY", "DATABASE_REPLICA_URL", "REDIS_TIMEOUT"} <= names
    assert {"AWS_SECRET_ACCESS_KEY", "DEPOT_OUTBOX_SWEEP_AGE", "DATABASE_PROXYSQL"} <= names
    assert "DJANGO_DEBUG" not in names  # production.py sets DEBUG = False
    assert "CELERY_TASK_ALWAYS_EAGER" not in names


def test_the_example_names_nothing_that_nobody_reads():
    unknown = set(example()) - production_reads() - deployment_reads()
    assert not unknown, f"read by neither the settings nor deploy/: {sorted(unknown)}"


def test_the_urls_carry_the_credentials_the_services_are_given():
    env = example()
    database = urlsplit(env["DATABASE_URL"])
    assert (database.username, database.password) == (
        env["DEPOT_DB_USER"],
        env["DEPOT_DB_PASSWORD"],
    )
    assert database.path == f"/{env['DEPOT_DB_NAME']}"
    replica = urlsplit(env["DATABASE_REPLICA_URL"])
    assert (replica.username, replica.password) == (
        env["DEPOT_DB_READER_USER"],
        env["DEPOT_DB_READER_PASSWORD"],
    )
    broker = urlsplit(env["CELERY_BROKER_URL"])
    assert (broker.username, broker.password) == (
        env["RABBITMQ_DEFAULT_USER"],
        env["RABBITMQ_DEFAULT_PASS"],
    )
    # ProxySQL and the placeholders that render.sh refuses (libconfig strings, URLs).
    for key, value in env.items():
        if key.endswith(("PASSWORD", "_PASS")):
            assert re.fullmatch(r"[A-Za-z0-9_-]*", value), key


def test_the_readme_production_table_names_only_variables_the_example_has():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("Production reads everything host-specific", 1)[1].split("\n\n", 2)[1]
    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    assert named, "the README's production table moved"
    assert named <= set(example()), sorted(named - set(example()))


def production_required() -> set[str]:
    """Variables production.py reads only without a default: it cannot start without them.

    A name also read with a default somewhere (DATABASE_REPLICA_URL, read again only when set)
    is optional. AWS_STORAGE_BUCKET_NAME counts: it is required with the default S3 storage.
    """
    production = ast.parse((SETTINGS / "production.py").read_text())
    without: set[str] = set()
    with_default: set[str] = set()
    for call in ast.walk(production):
        if name := _env_name(call):
            defaulted = any(k.arg == "default" for k in getattr(call, "keywords", []))
            (with_default if defaulted else without).add(name)
    return without - with_default


def test_the_required_variables_are_known_to_the_reading_above():
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "LICENSE_KEY_ENCRYPTION_KEY"} <= (
        production_required()
    )
    assert "DATABASE_REPLICA_URL" not in production_required()
