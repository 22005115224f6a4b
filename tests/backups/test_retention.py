"""The retention rule alone: which dated backups keep-N-daily, keep-M-weekly keeps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.backups.retention import retention_keep


def at(day: str, hour: int = 3) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def test_the_newest_of_each_of_the_last_days_and_weeks_is_kept():
    # Given nightly backups for three weeks and a second one on the last day
    stamps = [at(f"2026-11-{d:02d}") for d in range(1, 22)] + [at("2026-11-21", 15)]
    # When 3 daily and 2 weekly are kept
    kept = retention_keep(stamps, daily=3, weekly=2)
    # Then: the 21st's later one, the 20th, the 19th (days); Sunday 15th closes ISO week 46
    # (the 16th-21st, week 47, is already kept by its newest, the 21st 15:00)
    assert kept == {at("2026-11-21", 15), at("2026-11-20"), at("2026-11-19"), at("2026-11-15")}


def test_days_without_a_backup_do_not_count():
    # Given backups that stopped for a month
    stamps = [at("2026-09-01"), at("2026-09-02"), at("2026-09-03"), at("2026-10-20")]
    # When 3 daily are kept: the three newest days that have one, however old
    assert retention_keep(stamps, daily=3, weekly=0) == {
        at("2026-10-20"),
        at("2026-09-03"),
        at("2026-09-02"),
    }


def test_a_weekly_rule_reaches_further_back_than_the_daily_one():
    stamps = [at("2026-11-02"), at("2026-11-09"), at("2026-11-16"), at("2026-11-17")]
    assert retention_keep(stamps, daily=1, weekly=3) == {
        at("2026-11-17"),
        at("2026-11-09"),
        at("2026-11-02"),
    }


def test_keeping_no_daily_backup_is_refused():
    with pytest.raises(ValueError, match="at least one daily"):
        retention_keep([at("2026-11-01")], daily=0, weekly=4)
