"""Install statistics: counted in Redis with the check's one round trip, rolled up by beat."""

import logging
import threading
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.test.utils import override_settings
from django.utils import timezone

from apps.updates.delivery import hotcache
from apps.updates.models import InstallDay, InstallVersionDay
from apps.updates.selectors import install_summary, version_adoption
from apps.updates.stats import installs as stats
from apps.updates.stats.installs import InstallSample, stats_rollup, stats_writer
from apps.updates.tasks import install_stats_rollup_task
from tests.builders import product_make


def _redis():
    from django_redis import get_redis_connection

    return get_redis_connection("default")


@pytest.fixture
def slugs():
    """Fresh slugs for this test; their Redis keys are removed afterwards."""
    made: list[str] = []

    def make(name: str) -> str:
        made.append(f"{name}-{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield make
    if made and settings.DEPOT_TEST_BACKEND == "real":
        client = _redis()
        today = timezone.now().date()
        for day in (today - timedelta(days=1), today):
            client.srem(stats.products_key(day), *made)
            client.hdel(stats.checks_key(day), *made)
            for slug in made:
                client.delete(stats.hll_key(day, slug), stats.sites_key(day, slug))


@pytest.fixture
def product(db, slugs):
    return product_make(slugs("formwell"), "Formwell")


def _check(*samples: InstallSample, day=None) -> None:
    """Send one update check's statistics the way the hot path does: one pipeline."""
    pipe = _redis().pipeline(transaction=False)
    stats_writer(samples, day=day or timezone.now().date())(pipe)
    pipe.execute()


def _sample(slug, site, plugin="1.0", wp="6.7.1", php="8.2.12", locale="en_US"):
    return InstallSample(
        slug=slug, site=site, plugin_version=plugin, wp_version=wp, php_version=php, locale=locale
    )


def _rows(product, day):
    return sorted(
        InstallVersionDay.objects.filter(product=product, day=day).values_list(
            "dimension", "value", "sites"
        )
    )


@pytest.mark.real_services
@pytest.mark.django_db
def test_the_rollup_counts_distinct_sites_and_each_sites_last_versions(product):
    slug = product.slug
    # Three sites check twice each; a.example upgrades the plugin between its checks.
    _check(_sample(slug, "a.example", plugin="1.0", php="8.1.27"))
    _check(_sample(slug, "b.example", plugin="1.0", wp="6.6", php="7.4.33", locale="de_DE"))
    _check(_sample(slug, "c.example", plugin="1.1", php="8.2.12-1+ubuntu22.04.1+deb.sury.org+1"))
    _check(_sample(slug, "a.example", plugin="1.1", php="8.2.7"))
    _check(_sample(slug, "b.example", plugin="1.0", wp="6.6", php="7.4.33", locale="de_DE"))
    _check(_sample(slug, "c.example", plugin="1.1", php="8.2.12-1+ubuntu22.04.1+deb.sury.org+1"))

    assert install_stats_rollup_task.apply().get() == 1

    today = timezone.now().date()
    day = InstallDay.objects.get(product=product)
    assert (day.day, day.sites, day.checks) == (today, 3, 6)
    assert version_adoption(product=product, day=today) == {
        "plugin": [("1.1", 2), ("1.0", 1)],
        "wp": [("6.7.1", 2), ("6.6", 1)],
        "php": [("8.2", 2), ("7.4", 1)],
        "locale": [("en_US", 2), ("de_DE", 1)],
    }
    assert install_summary(product=product) == [{"day": today, "sites": 3, "checks": 6}]


@pytest.mark.real_services
@pytest.mark.django_db
def test_a_second_rollup_replaces_the_days_rows(product):
    slug = product.slug
    today = timezone.now().date()
    _check(_sample(slug, "a.example", plugin="1.0"), _sample(slug, "b.example", plugin="1.0"))
    assert stats_rollup(day=today) == 1
    first = _rows(product, today)

    assert stats_rollup(day=today) == 1
    assert _rows(product, today) == first
    assert InstallDay.objects.filter(product=product).count() == 1

    # b.example upgrades later that day: the 1.0 row shrinks, no stale row stays behind.
    _check(_sample(slug, "b.example", plugin="1.1"))
    assert stats_rollup(day=today) == 1
    assert [row for row in _rows(product, today) if row[0] == "plugin"] == [
        ("plugin", "1.0", 1),
        ("plugin", "1.1", 1),
    ]
    assert InstallDay.objects.values_list("sites", "checks").get(product=product) == (2, 3)


@pytest.mark.real_services
@pytest.mark.django_db
def test_the_task_rolls_up_yesterday_as_well(product):
    yesterday = timezone.now().date() - timedelta(days=1)
    _check(_sample(product.slug, "a.example"), day=yesterday)

    install_stats_rollup_task.apply().get()

    assert InstallDay.objects.values_list("day", "sites").get(product=product) == (yesterday, 1)


@pytest.mark.real_services
@pytest.mark.django_db
def test_a_slug_without_a_product_is_skipped(product, slugs):
    unknown = slugs("not-sold-here")
    _check(_sample(unknown, "a.example"), _sample(product.slug, "a.example"))

    assert stats_rollup(day=timezone.now().date()) == 1

    assert list(InstallDay.objects.values_list("product__slug", flat=True)) == [product.slug]
    assert set(InstallVersionDay.objects.values_list("product__slug", flat=True)) == {product.slug}


@pytest.mark.real_services
@pytest.mark.django_db
def test_odd_values_are_cleaned_and_cannot_shift_the_fingerprint(product):
    slug = product.slug
    today = timezone.now().date()
    _check(
        _sample(slug, "a.example", plugin="1.0|9.9|x", wp="6.7" + "9" * 80, php="", locale=""),
        _sample(slug, "", plugin="2.0"),  # no site: a check, not an install
        _sample(slug.upper(), "B.Example", plugin="1.0 beta\u00e9\n", php="PHP", locale="fr|FR"),
    )

    stats_rollup(day=today)

    assert InstallDay.objects.values_list("sites", "checks").get(product=product) == (2, 3)
    adoption = version_adoption(product=product, day=today)
    assert sorted(adoption["plugin"]) == [("1.0 beta_", 1), ("1.0_9.9_x", 1)]
    assert sorted(adoption["wp"]) == [("6.7.1", 1), (("6.7" + "9" * 80)[:50], 1)]
    assert adoption["php"] == [("unknown", 2)]
    assert adoption["locale"] == [("fr_FR", 1), ("unknown", 1)]
    assert not InstallVersionDay.objects.filter(value__contains="|").exists()


@pytest.mark.real_services
@pytest.mark.django_db
def test_spellings_the_database_calls_equal_become_one_row(product):
    today = timezone.now().date()
    _check(
        _sample(product.slug, "a.example", locale="pt_BR"),
        _sample(product.slug, "b.example", locale="pt_br"),
        _sample(product.slug, "c.example", locale="pt_BR "),
    )

    stats_rollup(day=today)

    assert version_adoption(product=product, day=today)["locale"] == [("pt_BR", 3)]


@pytest.mark.real_services
@pytest.mark.django_db
def test_the_statistics_ride_in_the_checks_single_round_trip(
    product, monkeypatch, django_assert_num_queries
):
    from redis.connection import AbstractConnection

    hotcache.store_reset()
    client = _redis()
    client.ping()  # connect now: a new connection's handshake is not the check's cost
    sent: list[bytes] = []
    send = AbstractConnection.send_packed_command

    me = threading.current_thread()

    def spy(self, command, check_health=True):
        if threading.current_thread() is me:  # not the near cache's once-a-second flush
            sent.append(b"".join(command) if isinstance(command, list) else command)
        return send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", spy)
    samples = [_sample(product.slug, f"site{i}.example") for i in range(3)]

    with django_assert_num_queries(0):
        writer = stats_writer(samples, day=timezone.now().date())
        values = hotcache.store().fetch([hotcache.gen_key(product.slug)], writer)

    monkeypatch.undo()
    assert values == [None]
    assert len(sent) == 1
    assert b"MGET" in sent[0] and b"PFADD" in sent[0] and b"HSET" in sent[0]
    assert client.pfcount(stats.hll_key(timezone.now().date(), product.slug)) == 3
    for key in (stats.sites_key, stats.hll_key):
        assert 0 < client.ttl(key(timezone.now().date(), product.slug)) <= stats.TTL_SECONDS


def test_php_versions_are_counted_by_major_and_minor():
    assert stats.php_clean("8.2.12-1+ubuntu22.04.1+deb.sury.org+1") == "8.2"
    assert stats.php_clean(" 7.4.33") == "7.4"
    assert stats.php_clean("8") == "8"
    assert stats.php_clean("") == "unknown"
    assert stats.php_clean("12345") == "unknown"


def test_a_writer_without_samples_queues_nothing():
    class Pipe:
        def __getattr__(self, name):
            raise AssertionError(f"{name} queued")

    stats_writer([_sample("", "a.example")], day=timezone.now().date())(Pipe())


@pytest.mark.django_db
def test_without_redis_nothing_is_rolled_up_and_that_is_logged_once(monkeypatch, caplog):
    monkeypatch.setattr(stats, "_disabled_logged", False)
    locmem = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    with override_settings(CACHES=locmem), caplog.at_level(logging.INFO, logger=stats.__name__):
        assert install_stats_rollup_task.apply().get() == 0
        assert stats_rollup(day=timezone.now().date()) == 0

    assert [r.getMessage() for r in caplog.records if r.name == stats.__name__] == [
        "install statistics are not collected: the default cache is not Redis"
    ]
    assert not InstallDay.objects.exists()


def test_beat_runs_the_rollup_every_ten_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["install-stats-rollup"]

    assert (entry["task"], entry["schedule"]) == (install_stats_rollup_task.name, 600.0)


@pytest.mark.django_db
def test_the_install_tables_are_read_only_in_the_admin(admin_client, product):
    InstallDay.objects.create(product=product, day=timezone.now().date(), sites=4, checks=9)

    listing = admin_client.get("/admin/updates/installday/")
    adding = admin_client.get("/admin/updates/installversionday/add/")

    assert listing.status_code == 200
    assert b"Formwell" in listing.content
    assert adding.status_code == 403
