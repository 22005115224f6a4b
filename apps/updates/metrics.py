"""Business counters of the update API, exported on /metrics by django-prometheus."""

import functools
from typing import Any

from prometheus_client import Counter

update_checks = Counter(
    "depot_update_checks_total",
    "Update checks answered, by dialect and outcome.",
    ["dialect", "outcome"],
)
license_actions = Counter(
    "depot_license_actions_total",
    "License activations, deactivations and checks, by action and result.",
    ["action", "result"],
)
downloads = Counter("depot_downloads_total", "Package downloads, by result.", ["result"])
rate_limited = Counter(
    "depot_rate_limited_total", "Requests refused by a rate limit, by bucket.", ["bucket"]
)


@functools.cache
def update_check(dialect: str, outcome: str) -> Any:
    """The `update_checks` child for one dialect and outcome (a few; looked up once)."""
    return update_checks.labels(dialect, outcome)
