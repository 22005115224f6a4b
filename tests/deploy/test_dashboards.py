"""deploy/grafana: valid dashboards that reference only metrics something exports.

Every metric name in a panel's expression must be one Depot exports, read from real scrapes:
the web role's and the updates role's /metrics after a purchase, and a Celery worker's own
exporter (its task metrics), plus the external exporters' names listed below.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from apps.core.tasks import outbox_sweep_task
from apps.notifications.tasks import receipt_send_task
from tests.builders import WP_UA, buy, shop_create
from tests.conftest import Workers
from tests.deploy.tools import DEPLOY
from tests.helpers import free_port, wait_until

DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))

# Exporters Depot does not run itself; each name as its exporter documents it.
EXTERNAL = {
    # mysqld_exporter (the compose stack's mysqld-exporter service)
    "mysql_global_status_threads_connected",
    "mysql_global_variables_max_connections",
    # the rabbitmq_prometheus plugin, aggregated endpoint
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_messages_unacked",
    "rabbitmq_queue_consumers",
}

SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
}
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "inf",
    "nan",
}


def exported(text: str) -> set[str]:
    """Every series name a scrape can hold: its samples', and its empty families' by type."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= {sample.name for sample in family.samples}
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, labels and keywords left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges, [$__rate_interval]
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", expr):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def dashboard_exprs() -> dict[str, list[str]]:
    found = {}
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        found[path.name] = [
            target["expr"]
            for panel in board["panels"]
            for target in panel.get("targets", [])
            if target.get("expr")
        ]
    return found


def test_the_three_dashboards_are_valid_json_with_panels_and_queries():
    assert {path.stem for path in DASHBOARDS} == {"update-api", "store", "pipeline"}
    uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["title"].startswith("Depot"), path.name
        assert board["panels"], path.name
        uids.add(board["uid"])
        for panel in board["panels"]:
            assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    assert len(uids) == len(DASHBOARDS)


def test_the_name_reading_finds_metrics_and_skips_functions_labels_and_keywords():
    expr = (
        "histogram_quantile(0.95, sum by (le, task) (rate(depot_task_duration_seconds_bucket"
        '{view="store:checkout"}[$__rate_interval]))) / on(instance) up'
    )
    assert metric_names(expr) == {"depot_task_duration_seconds_bucket", "up"}


@pytest.mark.django_db
def test_every_metric_a_dashboard_reads_is_one_depot_or_a_listed_exporter_exports(settings):
    # Given a purchase on the web role and update-API traffic on both roles
    settings.DEPOT_PAYMENT_GATEWAY = "test"
    shop = shop_create()
    assert buy(Client(), shop.personal).status_code == 303
    web = Client()
    web.get("/updates/puc/formwell/", HTTP_USER_AGENT=WP_UA)
    web.get("/updates/download/not-a-token/formwell-1.0.zip", HTTP_USER_AGENT=WP_UA)
    names = exported(web.get("/metrics").content.decode())
    with override_settings(ROOT_URLCONF="config.urls_updates"):
        updates = Client()
        updates.get("/updates/puc/formwell/", HTTP_USER_AGENT=WP_UA)
        names |= exported(updates.get("/metrics").content.decode())

    # Then every name the dashboards read is among them, or a listed exporter's
    unknown = {
        f"{board}: {name}"
        for board, exprs in dashboard_exprs().items()
        for expr in exprs
        for name in metric_names(expr)
        if name not in names | EXTERNAL
    }
    assert not unknown, sorted(unknown)


@pytest.mark.real_services
def test_the_worker_exporter_serves_the_task_metrics_the_pipeline_dashboard_reads(
    celery_workers: Workers, tmp_path: Path
):
    port = free_port()
    celery_workers.start(
        "--pool",
        "prefork",
        "--concurrency",
        "1",
        DEPOT_WORKER_METRICS_PORT=str(port),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        DEPOT_MAIL_QUEUE=celery_workers.queue,  # its retries stay on the queue it consumes
    )
    # Tasks have to run first: a prefork worker's figures come from its children's files, and
    # a series exists once it has a sample. A sweep succeeds; a receipt for no order retries.
    outbox_sweep_task.delay()
    receipt_send_task.apply_async(kwargs={"order_id": 0}, queue=celery_workers.queue)

    def scraped() -> set[str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return exported(response.read().decode())

    def after_a_task() -> set[str] | None:
        found = scraped()
        wanted = {"depot_task_results_total", "depot_task_retries_total"}
        return found if wanted <= found else None

    names = wait_until(after_a_task, timeout=40)
    assert names is not None

    read = {
        name
        for expr in dashboard_exprs()["pipeline.json"]
        for name in metric_names(expr)
        if name.startswith("depot_task_")
    }
    assert read and read <= names, sorted(read - names)
