"""Customer accounts: made when an order is paid, never from a form, and in bulk by imports."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower


def username_unique(email: str) -> str:
    """A username for `email` when its first 150 characters are taken by someone else.

    Staff "ada", or a long address sharing its first 150 characters: this customer gets a
    name of their own.
    """
    return f"{email[:137]}-{secrets.token_hex(6)}"


def customer_for_email(*, email: str) -> tuple[User, bool]:
    """Return the account of `email`, creating one without a password; and whether it is new.

    Only a paid order calls this (see `_paid`): an account is never made for an address
    that merely typed into a form, and nobody but the mailbox can set its password (the
    receipt and "Forgot your password?" e-mail the link; no page shows it).
    """
    email = email.strip()
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    if user is not None:
        return user, False
    username = email.lower()[:150]
    if User.objects.filter(username=username).exists():
        username = username_unique(email.lower())
    try:
        with transaction.atomic():
            user = User(username=username, email=email)
            user.set_unusable_password()
            user.save()
    except IntegrityError:
        # The same e-mail checking out at the same moment made the account first.
        user = User.objects.filter(email__iexact=email).order_by("pk").first()
        if user is None:
            raise
        return user, False
    return user, True


def customers_import(*, names: dict[str, str]) -> tuple[dict[str, User], int]:
    """Return the old store's customers' accounts by e-mail, creating missing ones; and how many.

    `names` maps e-mail to full name; the result is keyed by lower-case e-mail. As for a paid
    order, a new account has no password: its owner sets one through "Forgot your password?".
    Existing accounts are left as they are.
    """
    wanted = {email.strip().lower(): name for email, name in names.items() if email.strip()}
    users: dict[str, User] = {}
    existing = User.objects.annotate(email_lower=Lower("email")).filter(
        email_lower__in=list(wanted)
    )
    # The oldest account wins, as in customer_for_email.
    for found in existing.order_by("-pk"):
        users[found.email.lower()] = found
    missing = [email for email in wanted if email not in users]
    taken = set(
        User.objects.filter(username__in=[e[:150] for e in missing]).values_list(
            "username", flat=True
        )
    )
    new: list[User] = []
    for email in missing:
        username = email[:150]
        if username in taken:
            username = username_unique(email)
        first, _, last = wanted[email].strip().partition(" ")
        account = User(username=username, email=email, first_name=first[:150])
        account.last_name = last.strip()[:150]
        account.set_unusable_password()
        new.append(account)
    User.objects.bulk_create(new)
    if new:
        for made in User.objects.filter(username__in=[u.username for u in new]):
            users[made.email.lower()] = made
    return users, len(new)
