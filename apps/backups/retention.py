"""Which dated backups a keep-N-daily, keep-M-weekly policy keeps (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import datetime


def retention_keep(stamps: Iterable[datetime], *, daily: int, weekly: int) -> set[datetime]:
    """Return the stamps to keep: the newest of each of the `daily` most recent days and of
    each of the `weekly` most recent ISO weeks that have a backup (UTC calendar).

    Counted in days and weeks *that have a backup*, as restic's --keep-daily/--keep-weekly:
    a backup job that stopped for a month does not let the prune delete the last good ones.
    A backup may be kept by both rules; the newest one is always kept.
    """
    if daily < 1 or weekly < 0:
        raise ValueError("keep at least one daily backup (daily >= 1), and weekly >= 0")
    newest_first = sorted(set(stamps), reverse=True)
    keep: set[datetime] = set()
    keep |= _newest_per_period(newest_first, lambda s: s.date(), daily)
    keep |= _newest_per_period(newest_first, lambda s: s.isocalendar()[:2], weekly)
    return keep


def _newest_per_period(
    newest_first: list[datetime], period: Callable[[datetime], Hashable], count: int
) -> set[datetime]:
    kept: dict[Hashable, datetime] = {}
    for stamp in newest_first:
        key = period(stamp)
        if key not in kept:
            if len(kept) == count:
                break
            kept[key] = stamp
    return set(kept.values())
