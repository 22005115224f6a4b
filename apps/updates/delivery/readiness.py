"""Whether the update cache alone can answer update checks (the updates role's readiness)."""

from __future__ import annotations

import json

from apps.updates.delivery import hotcache


class CacheCold(Exception):
    """The update cache is reachable but lacks what a check needs without the database."""


def update_cache_check() -> None:
    """Raise unless the cache answers and holds the directory and every product's metadata.

    Warm means: the product directory (``depot:upd:products``, not a tombstone), and for each
    product in it the current generation (``gen:<slug>``) and that generation's metadata
    snapshot (``meta:<slug>:<gen>``). Then an update check for any of our products is answered
    without a query. License states are cached per key as checks arrive; a key not cached
    yet still needs the database.
    """
    store = hotcache.store()
    raw = store.get(hotcache.DIRECTORY_KEY)
    if raw is None or hotcache.is_tombstone(raw):
        raise CacheCold("the product directory is not cached")
    slugs = sorted(set(json.loads(raw)["slugs"].values()))
    gens = store.fetch([hotcache.gen_key(slug) for slug in slugs], None)
    missing = [slug for slug, gen in zip(slugs, gens, strict=True) if gen is None]
    if missing:
        raise CacheCold(f"no metadata generation for {', '.join(missing[:5])}")
    metas = store.fetch(
        [hotcache.meta_key(slug, gen) for slug, gen in zip(slugs, gens, strict=True) if gen], None
    )
    cold = [slug for slug, meta in zip(slugs, metas, strict=True) if meta is None]
    if cold:
        raise CacheCold(f"no metadata snapshot for {', '.join(cold[:5])}")
