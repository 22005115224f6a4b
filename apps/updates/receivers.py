"""The update API's reactions to other apps' changes: drop what its cache holds.

These run right after the change commits, in the process that made it, rather than in a
task: the very next update check must see a revoked license or a renamed product.
"""

from __future__ import annotations

import logging

from apps.core.events import subscriber
from apps.licenses.events import LicenseChanged, ProductChanged
from apps.licenses.selectors import license_key_hash_of
from apps.updates.delivery import hotcache

logger = logging.getLogger(__name__)


@subscriber(LicenseChanged)
def on_license_changed(event: LicenseChanged) -> None:
    key_hash = license_key_hash_of(license_id=event.license_id)
    if key_hash is None:
        return
    try:
        hotcache.license_forget(key_hash)
    except hotcache.Unavailable:
        # Redis is down now; a task retries until it is back, so a revoked license is not
        # served from a stale cache for the rest of LICENSE_TTL.
        from apps.updates.tasks import license_state_forget_task

        try:
            license_state_forget_task.delay(key_hash=key_hash)
        except Exception:
            logger.exception("could not drop the cached state of license %s", event.license_id)


@subscriber(ProductChanged)
def on_product_changed(event: ProductChanged) -> None:
    hotcache.metadata_bump(event.slug)
    try:
        # A created, renamed or deactivated product changes which slugs checks answer for.
        hotcache.directory_forget()
    except hotcache.Unavailable:
        # The cached directory expires within DIRECTORY_TTL, so the change shows by then.
        logger.error("could not drop the cached product directory for %s", event.slug)
