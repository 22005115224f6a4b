"""deploy/prometheus: promtool accepts the alert rules, and the outbox alert fires when it must.

`promtool test rules` runs deploy/prometheus/tests/*.yml: synthetic series in which the oldest
outbox event ages past 5 minutes (the alert fires) and stays below (it does not). Debian's
`prometheus` package carries promtool (`make test` installs it as root); without it these
tests are skipped, and under CI=true they fail.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.tools import DEPLOY, tool

PROMETHEUS = DEPLOY / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
INSTALL = "apt-get install prometheus, or `make test` as root"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool", install=INSTALL), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_promtool_accepts_the_alert_rules():
    assert RULES, "no rule files in deploy/prometheus/rules"

    result = _promtool("check", "rules", *map(str, RULES))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rule_unit_tests_pass_with_the_outbox_alert_firing_past_five_minutes():
    assert RULE_TESTS, "no rule tests in deploy/prometheus/tests"
    outbox = [
        case
        for path in RULE_TESTS
        for group in yaml.safe_load(path.read_text())["tests"]
        for case in group.get("alert_rule_test", [])
        if case["alertname"] == "DepotOutboxStuck"
    ]
    # The tests show it both ways: quiet at or below 5 minutes, firing after.
    assert any(case["exp_alerts"] for case in outbox)
    assert any(not case["exp_alerts"] for case in outbox)

    result = _promtool("test", "rules", *map(str, RULE_TESTS))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_rule_test_that_expects_the_wrong_thing_fails(tmp_path: Path):
    # Guards the test above: the same cases with the outbox alert expected at 4 minutes.
    (tmp_path / "rules").mkdir()
    for path in RULES:
        shutil.copy(path, tmp_path / "rules" / path.name)
    (tmp_path / "tests").mkdir()
    broken = {
        "rule_files": [f"../rules/{path.name}" for path in RULES],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": "depot_outbox_oldest_undelivered_age_seconds",
                        "values": "0+60x12",
                    }
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "4m",
                        "alertname": "DepotOutboxStuck",
                        "exp_alerts": [{"exp_labels": {"severity": "page"}}],
                    }
                ],
            }
        ],
    }
    case = tmp_path / "tests" / "broken.yml"
    case.write_text(yaml.safe_dump(broken))

    result = _promtool("test", "rules", str(case))

    assert result.returncode != 0


def test_every_alert_has_a_runbook_line():
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert rule.get("annotations", {}).get("runbook"), rule["alert"]
                    assert rule["annotations"].get("summary"), rule["alert"]


@pytest.mark.parametrize(
    "alert",
    [
        "DepotOutboxStuck",
        "DepotTaskFailureRate",
        "DepotUpdateCheckErrors",
        "DepotUpdateCheckSlow",
        "DepotCheckoutSlow",
        "DepotMySQLConnectionsNearLimit",
        "DepotBackupTooOld",
    ],
)
def test_the_alerts_the_issue_asks_for_are_there(alert: str):
    names = {
        rule.get("alert")
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    }
    assert alert in names
