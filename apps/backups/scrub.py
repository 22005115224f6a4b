"""Make an imported copy of production safe for a developer's machine: real shapes, no real data.

Run on the imported database, in one session, with a random salt that is never stored or shown.
A customer's e-mail becomes `customer-<12 hex>@example.invalid`, the same pseudonym wherever
the same address appears (orders, licenses, accounts, mail log), so "this customer has three
orders and two licenses" survives; the salt makes it irreversible (no dictionary of e-mails
can be hashed to find who it was). Every statement is listed in SCRUB_STATEMENTS, and
SCRUB_KEEPS names each text column left as it is; tests/backups/test_scrub.py fails when a
model grows a text column that neither mentions.
"""

from __future__ import annotations

import secrets

from apps.backups.mysql import Server


def _pseudonym(column: str) -> str:
    return (
        f"IF({column} = '', '', CONCAT('customer-', "
        f"LEFT(SHA2(CONCAT(@salt, LOWER(TRIM({column}))), 256), 12), '@example.invalid'))"
    )


def _random(tag: str, length: int = 64) -> str:
    return f"LEFT(SHA2(CONCAT(@salt, '{tag}', id), 256), {length})"


# Table -> what is done to it. A DELETE empties a table of secrets or personal records; each
# UPDATE says which columns it rewrites (the keys of SCRUBBED below, for the coverage test).
SCRUB_STATEMENTS: list[tuple[str, dict[str, str] | None]] = [
    # Accounts: names, e-mail, user names replaced; every password made unusable ("!" is
    # Django's marker: nobody can sign in with it, set one with `manage.py changepassword`).
    (
        "auth_user",
        {
            "username": "CONCAT('user-', id)",
            "first_name": "IF(first_name = '', '', 'Customer')",
            "last_name": "IF(last_name = '', '', CAST(id AS CHAR))",
            "email": _pseudonym("email"),
            "password": f"CONCAT('!', {_random('password', 40)})",
        },
    ),
    # Orders: e-mail and name replaced, the payment gateway's reference removed, the receipt
    # link's access key and the checkout token invalidated.
    (
        "store_order",
        {
            "email": _pseudonym("email"),
            "name": "IF(name = '', '', CONCAT('Customer ', id))",
            "gateway_reference": "''",
            "checkout_token": "NULL",
            "access_key": f"IF(access_key = '', '', {_random('access', 48)})",
        },
    ),
    (
        "store_payment",
        {
            "reference": "''",
            "idempotency_key": "CONCAT('scrubbed-', id)",
            "error": "''",
        },
    ),
    # Stripe's events carry the customer's details in the payload.
    (
        "store_stripeevent",
        {"event_id": "CONCAT('evt_scrubbed_', id)", "payload": "'{}'", "outcome": "''"},
    ),
    # Licenses: e-mail replaced, keys invalidated. The key hash becomes a random value (no
    # key verifies against it) and the encrypted key is emptied, so the account page cannot
    # show one: issue a fresh license with `manage.py issue_license` to test with a key.
    (
        "licenses_license",
        {
            "email": _pseudonym("email"),
            "key_hash": _random("key"),
            "key_encrypted": "''",
            "key_hint": "'XXXX'",
        },
    ),
    # Customers' sites: a pseudonymous host per site (distinct sites stay distinct).
    (
        "licenses_activation",
        {
            "site": "CONCAT('site-', LEFT(SHA2(CONCAT(@salt, site), 256), 12), '.example')",
            # Evaluated after `site` above (MySQL assigns left to right): the new host.
            "site_url": "CONCAT('https://', site)",
        },
    ),
    ("notifications_emaillog", {"to": _pseudonym("`to`"), "error": "''"}),
    ("notifications_reminderunsubscribe", {"email": _pseudonym("email")}),
    # Outgoing webhooks: endpoints pointed at nowhere, switched off and their signing secrets
    # invalidated (a developer's worker must never POST to a vendor's production URL); the
    # events' bodies (orders, customers) emptied, the answers recorded from endpoints too.
    (
        "webhooks_endpoint",
        {
            "url": "CONCAT('https://webhook-', id, '.example.invalid/')",
            "secret_encrypted": "''",
            "secret_hint": "'XXXX'",
            "is_active": "0",
        },
    ),
    ("webhooks_webhookevent", {"body": "'{}'"}),
    ("webhooks_deliveryattempt", {"response_body": "''", "error": "''"}),
    # Publish tokens (CI's upload credentials) invalidated like license keys.
    ("updates_publishtoken", {"token_hash": _random("token"), "token_hint": "'XXXX'"}),
    # Sessions (signed-in customers and staff), staff TOTP secrets, sign-in attempts with their
    # addresses, the admin's history (object names are e-mails) and the outbox (payloads name
    # customers; a developer's worker must not send them anything): emptied.
    ("django_session", None),
    ("otp_totp_totpdevice", None),
    ("axes_accessattempt", None),
    ("axes_accessattemptexpiration", None),
    ("axes_accessfailurelog", None),
    ("axes_accesslog", None),
    ("django_admin_log", None),
    ("core_outboxevent", None),
]

# Text columns kept as they are, and why: catalogue and release data are public anyway;
# statuses, currencies and kinds are the shapes a developer needs.
SCRUB_KEEPS: dict[str, set[str]] = {
    "auth_permission": {"name", "codename"},
    "auth_group": {"name"},
    "django_content_type": {"app_label", "model"},
    "licenses_product": {
        "name",
        "slug",
        "activation",
        "description",
        "homepage",
        "author",
        "author_homepage",
        "banner_low",
        "banner_high",
        "icon_1x",
        "icon_2x",
        "icon_svg",
        "latest_version",
        "latest_changelog",
        "requires_wp",
        "tested_up_to",
    },
    "licenses_license": {"status"},
    "licenses_activation": {"environment"},
    "updates_release": {
        "version",
        "channel",
        "sha384",
        "requires_wp",
        "requires_php",
        "tested_up_to",
        "description",
        "installation",
        "changelog",
        "upgrade_notice",
    },
    "updates_publishtoken": {"name"},
    "updates_installversionday": {"dimension", "value"},
    "store_pricetier": {"name", "term", "currency"},
    "store_coupon": {"code", "kind"},
    "store_order": {"number", "country", "status", "currency", "gateway"},
    "store_orderline": {"kind"},
    "store_payment": {"gateway", "status", "currency"},
    "store_stripeevent": {"type"},
    "store_productscreenshot": {"caption"},
    "notifications_emaillog": {"dedupe_key", "subject", "template", "status"},
    "backups_backuprecord": {"name", "location", "sha256"},
    "webhooks_endpoint": {"description", "events", "disabled_reason"},
    "webhooks_webhookevent": {"event_id", "type"},
    "webhooks_delivery": {"status"},
}


def scrub_sql() -> list[str]:
    """Return the statements, in order, that scrub a database (after SET @salt)."""
    statements = []
    for table, columns in SCRUB_STATEMENTS:
        if columns is None:
            # Table and column names are this module's constants, never input.
            statements.append(f"DELETE FROM `{table}`")  # noqa: S608
        else:
            assignments = ", ".join(f"`{column}` = {value}" for column, value in columns.items())
            statements.append(f"UPDATE `{table}` SET {assignments}")  # noqa: S608
    return statements


def scrub_database(server: Server) -> list[str]:
    """Scrub `server.database` in one session; return the tables it changed, in order."""
    connection = server.connect()
    try:
        cursor = connection.cursor()
        cursor.execute("SET @salt = %s", [secrets.token_hex(32)])
        cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
        )
        present = {row[0] for row in cursor.fetchall()}
        changed = []
        for (table, _), statement in zip(SCRUB_STATEMENTS, scrub_sql(), strict=True):
            if table in present:
                cursor.execute(statement)
                changed.append(table)
        connection.commit()
        return changed
    finally:
        connection.close()
