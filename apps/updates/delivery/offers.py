"""The update check behind all three dialects: which release a site is offered, and whether
it may download it.

One call handles a batch (a native check of every installed plugin, an EDD `products[]`
request) with one cache round trip: the metadata generations and license states it needs
are fetched together, with the client's request counter and the install statistics queued on
the same pipeline. Misses are read from the database and cached (see delivery.hotcache).

What a batch may cost is bounded: plugins that are not ours are dropped against the cached
product directory first (no query, no cache key, no statistics), and the license keys of the
rest are looked up in one query, unknown ones cached negatively.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db import DatabaseError

from apps.core.errors import NotFound
from apps.licenses.selectors import (
    LicenseCheck,
    LicenseState,
    license_key_digest,
    license_state_check,
    license_state_slot_refusal,
    license_states_by_hash,
)
from apps.licenses.services import LicenseRefused, license_activate
from apps.licenses.sites import site_normalise
from apps.updates import metrics
from apps.updates.delivery import hotcache
from apps.updates.delivery.package_tokens import download_url
from apps.updates.delivery.rendered import ByIdentity, PerPeriod
from apps.updates.delivery.snapshots import (
    ProductDirectory,
    product_directory_load,
    product_snapshot_load,
)
from apps.updates.stats.installs import InstallSample, StatsBatch
from apps.updates.versions import version_at_least, version_compare

logger = logging.getLogger(__name__)

MISSING_KEY = "Enter your license key in the plugin's settings to receive updates."
ACTIVATION_UNAVAILABLE = (
    "This site could not be activated just now. WordPress will try again at its next check."
)
# A product's `activation` policy: a licensed check from a new site takes a free slot.
ON_CHECK = "on_check"


@dataclass(frozen=True)
class CheckInput:
    """One plugin on one site, as a client described it."""

    slug: str
    key: str = ""
    site_url: str | None = None
    installed_version: str = ""
    wp_version: str = ""
    php_version: str = ""
    locale: str = ""
    beta: bool = False


@dataclass
class CheckOutcome:
    """What the site is told: the product, the offered release, the package if entitled."""

    input: CheckInput
    product: dict[str, Any] | None
    release: dict[str, Any] | None = None
    latest_stable: dict[str, Any] | None = None
    license: LicenseCheck = field(default_factory=lambda: LicenseCheck("missing", MISSING_KEY))
    site: str | None = None
    package: str | None = None
    notice: str = ""

    @property
    def has_update(self) -> bool:
        if self.release is None:
            return False
        installed = self.input.installed_version
        return not installed or version_compare(self.release["version"], installed) > 0


def rollout_bucket(*, key_hash: str, site: str) -> int:
    """Return a stable bucket 0-99 for a license and site (a release at N% reaches < N)."""
    digest = hashlib.sha256(f"{key_hash}|{site}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100


_staged = ByIdentity(size=256)


def _has_staged_rollout(snapshot: dict[str, Any]) -> bool:
    return any(release["rollout"] < 100 for release in snapshot["releases"])


def _php_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def release_choose(
    snapshot: dict[str, Any], *, beta: bool, wp: str, php: str, bucket: int
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str]:
    """Return (offered release, newest stable, why a newer one was held back).

    Releases are newest first: the first that suits the site's channel, WordPress and PHP
    versions and rollout bucket is offered.
    """
    releases = snapshot["releases"]
    newest_stable = next((r for r in releases if r["channel"] == "stable"), None)
    held_back = ""
    for release in releases:
        if release["channel"] != "stable" and not beta:
            continue
        if not version_at_least(wp, release["requires_wp"]):
            held_back = held_back or (
                f"Version {release['version']} requires WordPress {release['requires_wp']} "
                f"or later; this site runs {wp}."
            )
            continue
        if not version_at_least(php, release["requires_php"]):
            held_back = held_back or (
                f"Version {release['version']} requires PHP {release['requires_php']} "
                f"or later; this site runs {_php_minor(php)}."
            )
            continue
        if bucket < release["rollout"]:
            return release, newest_stable, held_back
    return None, newest_stable, held_back


def _site(site_url: str | None) -> str | None:
    if not site_url:
        return None
    try:
        return site_normalise(site_url)
    except ValueError:
        return None


def _stats(inputs: Sequence[CheckInput], sites: list[str | None]) -> Any:
    samples = [
        InstallSample(
            slug=item.slug,
            site=site,
            plugin_version=item.installed_version,
            wp_version=item.wp_version,
            php_version=item.php_version,
            locale=item.locale,
        )
        for item, site in zip(inputs, sites, strict=True)
        if site
    ]
    return StatsBatch(day=_today(), samples=tuple(samples)) if samples else None


# Today in UTC, as timezone.now().date() gives it with USE_TZ.
_today = PerPeriod(86400, lambda day: date(1970, 1, 1) + timedelta(days=day))


def _snapshot(slug: str, gen: str | None, cache_up: bool) -> dict[str, Any] | None:
    load = functools.partial(product_snapshot_load, slug=slug)
    if not cache_up:
        return hotcache.metadata_without_cache(slug, load)
    try:
        if gen is None:
            # Take the generation before reading, so a publish in between is never hidden.
            gen = hotcache.generation_ensure(slug)
        found, snapshot = hotcache.metadata_get(slug, gen)
    except hotcache.Unavailable:
        return hotcache.metadata_without_cache(slug, load)
    if not found:
        # Concurrent misses of this generation in this process share one load.
        snapshot = hotcache.metadata_fill(slug, gen, load)
    return snapshot


def _states_load(key_hashes: list[str]) -> dict[str, str]:
    return {h: s.to_json() for h, s in license_states_by_hash(key_hashes=key_hashes).items()}


@functools.lru_cache(maxsize=8192)
def _state_parsed(raw: str) -> LicenseState:
    # The near cache hands back the same string for a key until it changes: parse it once.
    return LicenseState.from_json(raw)


def _licenses(raw_states: dict[str, str | None], cache_up: bool) -> dict[str, LicenseState | None]:
    """Return the states of these keys: from the cache, else all misses in one query."""
    states: dict[str, LicenseState | None] = {}
    misses = []
    for key_hash, raw in raw_states.items():
        if not cache_up or raw is None or hotcache.is_tombstone(raw):
            misses.append(key_hash)
        elif raw == hotcache.NEGATIVE:
            states[key_hash] = None
        else:
            states[key_hash] = _state_parsed(raw)
    if not misses:
        return states
    if not cache_up:
        # Nothing to tell a state read before a change from one read after: read our own.
        loaded = license_states_by_hash(key_hashes=misses)
        states.update({h: loaded.get(h) for h in misses})
        return states
    # Concurrent misses of a key in this process share one load (and one cache fill).
    filled = hotcache.licenses_fill({h: raw_states[h] for h in misses}, _states_load)
    for key_hash, state_json in filled.items():
        states[key_hash] = LicenseState.from_json(state_json) if state_json else None
    return states


def license_lookup(
    *, key: str, slug: str | None, polled: bool | None = None
) -> tuple[LicenseState | None, dict[str, Any] | None]:
    """Return a key's license state and a product's snapshot, as a check reads them.

    From this process's copy or one cache round trip when warm; misses read the database
    and are cached. None for an unknown key or no product. `polled`: what this check's
    `hotcache.store().poll()` said (polled here when None).
    """
    key_hash = license_key_digest(key) if key.strip() else ""
    keys = ([hotcache.gen_key(slug)] if slug else []) + (
        [hotcache.license_key(key_hash)] if key_hash else []
    )
    if not keys:
        return None, None
    try:
        values, _ = hotcache.store().fetch_near(keys, None, None, polled=polled)
        cache_up = True
    except hotcache.Unavailable:
        values, cache_up = [None] * len(keys), False
    snapshot = _snapshot(slug, values[0], cache_up) if slug else None
    state = _licenses({key_hash: values[-1]}, cache_up)[key_hash] if key_hash else None
    return state, snapshot


def product_directory(*, polled: bool | None = None) -> ProductDirectory:
    """Return the directory of the products update checks answer for (cached).

    `polled`: what this check's `hotcache.store().poll()` said (polled here when None).
    """
    return _directory_of(hotcache.directory_get(product_directory_load, polled=polled))


_directories = ByIdentity(size=4)


def _directory_of(value: dict[str, Any]) -> ProductDirectory:
    # The cached value is one object until the directory changes: wrap it once.
    return _directories.get((value,), None, lambda: ProductDirectory.from_json(value))


def check_many(
    inputs: Sequence[CheckInput],
    *,
    base_url: str,
    count_stats: bool = True,
    quota: hotcache.Quota | None = None,
    activate_on_check: bool = False,
    polled: bool | None = None,
) -> list[CheckOutcome]:
    """Answer a batch of update checks; database reads happen only on cache misses.

    With `activate_on_check` (PUC and native checks), a valid key checked from a site it is
    not active on takes a free slot there when its product's policy is "on_check": the only
    write an update check makes, once per site.

    Raises hotcache.RateLimited, before any database read, when the client is over `quota`
    (not counted while Redis is down: update checks fail open).
    """
    # Changes announced so far are applied once, here (or by the caller, who says what
    # `hotcache.store().poll()` answered): everything below reads that state.
    if polled is None:
        polled = hotcache.store().poll()
    directory = product_directory(polled=polled)
    ours: list[CheckInput] = []
    for item in inputs:
        slug = directory.slug(item.slug)
        if slug is not None:
            ours.append(item if slug == item.slug else dataclasses.replace(item, slug=slug))
    answered = iter(
        _check_ours(
            ours,
            base_url=base_url,
            count_stats=count_stats,
            quota=quota,
            activate_on_check=activate_on_check,
            polled=polled,
        )
    )
    return [
        next(answered) if directory.slug(item.slug) is not None else CheckOutcome(item, None)
        for item in inputs
    ]


def _check_ours(
    inputs: Sequence[CheckInput],
    *,
    base_url: str,
    count_stats: bool,
    quota: hotcache.Quota | None,
    activate_on_check: bool,
    polled: bool,
) -> list[CheckOutcome]:
    sites = [_site(item.site_url) for item in inputs]
    hashes = [license_key_digest(item.key) if item.key.strip() else "" for item in inputs]
    slugs = list(dict.fromkeys(item.slug for item in inputs))
    key_hashes = list(dict.fromkeys(h for h in hashes if h))
    store = hotcache.store()
    stats = _stats(inputs, sites) if count_stats and store.stats_enabled else None
    keys = [hotcache.gen_key(s) for s in slugs] + [hotcache.license_key(h) for h in key_hashes]
    if not keys and quota is None:
        return []
    try:
        values, hit = store.fetch_near(keys, stats, quota, polled=polled)
        cache_up = True
    except hotcache.Unavailable:
        values, hit = [None] * len(keys), None
        cache_up = False
    if quota is not None and hit is not None and hit[0] > quota.limit:
        raise hotcache.RateLimited(hit[1])
    gens = dict(zip(slugs, values[: len(slugs)], strict=True))
    raw_states = dict(zip(key_hashes, values[len(slugs) :], strict=True))
    snapshots = {slug: _snapshot(slug, gens[slug], cache_up) for slug in slugs}
    states = _licenses(raw_states, cache_up)

    outcomes = []
    for item, site, key_hash in zip(inputs, sites, hashes, strict=True):
        outcomes.append(
            _outcome(
                item,
                site,
                key_hash,
                snapshots[item.slug],
                states,
                base_url=base_url,
                activate_on_check=activate_on_check,
            )
        )
    return outcomes


def _outcome(
    item: CheckInput,
    site: str | None,
    key_hash: str,
    snapshot: dict[str, Any] | None,
    states: dict[str, LicenseState | None],
    *,
    base_url: str,
    activate_on_check: bool,
) -> CheckOutcome:
    outcome = CheckOutcome(input=item, product=snapshot, site=site)
    if snapshot is None:
        return outcome
    # With every release at 100 % any bucket gets the same answer: the hash is not needed.
    staged = _staged.get((snapshot,), None, lambda: _has_staged_rollout(snapshot))
    bucket = rollout_bucket(key_hash=key_hash, site=site or "") if staged else 0
    release, stable, held_back = release_choose(
        snapshot, beta=item.beta, wp=item.wp_version, php=item.php_version, bucket=bucket
    )
    outcome.release, outcome.latest_stable = release, stable
    if key_hash:
        outcome.license = license_state_check(
            states[key_hash],
            product_id=snapshot["id"],
            product_name=snapshot["name"],
            site_url=item.site_url or "",
        )
        if (
            activate_on_check
            and site is not None
            and outcome.license.status in ("inactive", "site_inactive")
            and snapshot.get("activation", ON_CHECK) == ON_CHECK
        ):
            outcome.license = _activate(outcome.license, site, item.site_url or site)
    if release is None:
        outcome.notice = held_back
        return outcome
    state = outcome.license.state
    if outcome.license.entitled and state is not None and site:
        outcome.package = download_url(
            base_url=base_url,
            license_id=state.license_id,
            release_id=release["id"],
            site=site,
            slug=snapshot["slug"],
            version=release["version"],
        )
    else:
        outcome.notice = outcome.license.message
    return outcome


def _activate(check: LicenseCheck, site: str, site_url: str) -> LicenseCheck:
    """Let a valid key's check from a new site take a free slot there (product on "on_check").

    A site the cached state shows no room for is answered from that state with no query, so
    a site past the limit that checks twice a day costs what any warm check costs. Otherwise
    `license_activate` decides under the license's row lock: of sites racing for the last
    slot one wins, and two checks from one new site make one activation. It announces the
    change (LicenseChanged), which drops the cached state.
    """
    state = check.state
    assert state is not None
    refusal = license_state_slot_refusal(state, site)
    if refusal is not None:
        metrics.license_actions.labels("activate_on_check", refusal.code).inc()
        return LicenseCheck(refusal.code, refusal.message, state)
    try:
        activation = license_activate(license_id=state.license_id, site_url=site_url, on_check=True)
    except LicenseRefused as refused:  # another site took the last slot since the state was read
        metrics.license_actions.labels("activate_on_check", refused.code).inc()
        return LicenseCheck(refused.code, refused.message, state)
    except NotFound:
        return check  # deleted since its state was cached
    except DatabaseError:
        # Warm checks answer while the database is away; this one just cannot activate.
        logger.exception("could not activate license %s on check", state.license_id)
        metrics.license_actions.labels("activate_on_check", "unavailable").inc()
        return LicenseCheck(check.status, ACTIVATION_UNAVAILABLE, state)
    metrics.license_actions.labels("activate_on_check", "ok").inc()
    if activation.is_staging:
        staging = tuple(sorted({*state.staging_sites, activation.site}))
        after = dataclasses.replace(state, staging_sites=staging)
    else:
        after = dataclasses.replace(state, sites=tuple(sorted({*state.sites, activation.site})))
    return LicenseCheck("valid", "This license is now active on this site.", after)
