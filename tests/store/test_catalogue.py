"""The catalogue at `/`: every product on sale with its active tiers and their prices."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from apps.licenses.models import Product
from apps.licenses.services import product_upsert
from apps.store.models import PriceTier
from apps.store.services import tier_upsert

pytestmark = pytest.mark.django_db


class _Catalogue(HTMLParser):
    """Collect each product card as {slug: {"name": ..., "tiers": [(label, price), ...]}}."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: dict[str, dict] = {}
        self._card: dict | None = None
        self._field: str | None = None
        self._tier: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "article" and (attributes.get("id") or "").startswith("product-"):
            slug = (attributes["id"] or "").removeprefix("product-")
            self._card = self.cards[slug] = {"name": "", "tiers": []}
        elif self._card is not None and tag == "h2":
            self._field = "name"
        elif self._card is not None and tag == "li":
            self._tier = []
        elif self._tier is not None and tag == "span":
            self._tier.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._card = None
        elif tag == "h2":
            self._field = None
        elif tag == "li" and self._card is not None and self._tier is not None:
            self._card["tiers"].append(tuple(part.strip() for part in self._tier))
            self._tier = None

    def handle_data(self, data: str) -> None:
        if self._card is not None and self._field == "name":
            self._card["name"] += data.strip()
        elif self._tier:
            self._tier[-1] += data


def _cards(client) -> dict[str, dict]:
    response = client.get("/")
    assert response.status_code == 200
    parser = _Catalogue()
    parser.feed(response.content.decode())
    return parser.cards


def _product_with_tiers(slug: str, name: str, amounts: list[int]) -> Product:
    product = product_upsert(slug=slug, name=name, description=f"{name} does things.")
    for position, amount in enumerate(amounts):
        tier_upsert(
            product=product,
            name=f"Tier {position}",
            sites_allowed=position + 1,
            term=PriceTier.Term.YEAR,
            amount=amount,
            position=position,
        )
    return product


def test_catalogue_shows_each_active_product_with_its_tiers_in_order(client):
    # Given
    formwell = product_upsert(slug="formwell", name="Formwell")
    tier_upsert(
        product=formwell, name="Agency", sites_allowed=0, term="lifetime", amount=29400, position=2
    )
    tier_upsert(
        product=formwell, name="Personal", sites_allowed=1, term="year", amount=4900, position=0
    )
    tier_upsert(
        product=formwell, name="Business", sites_allowed=5, term="year", amount=9800, position=1
    )
    searchlight = product_upsert(slug="searchlight-seo", name="Searchlight SEO")
    tier_upsert(product=searchlight, name="Personal", sites_allowed=1, term="year", amount=5900)

    # When
    cards = _cards(client)

    # Then
    assert set(cards) == {"formwell", "searchlight-seo"}
    assert cards["formwell"]["name"] == "Formwell"
    assert cards["formwell"]["tiers"] == [
        ("Personal · 1 site · 1 year", "$49.00"),
        ("Business · 5 sites · 1 year", "$98.00"),
        ("Agency · Unlimited sites · Lifetime", "$294.00"),
    ]
    assert cards["searchlight-seo"]["name"] == "Searchlight SEO"
    assert cards["searchlight-seo"]["tiers"] == [("Personal · 1 site · 1 year", "$59.00")]


@pytest.mark.parametrize(
    ("currency", "amount", "shown"),
    [
        ("USD", 4900, "$49.00"),
        ("USD", 1999, "$19.99"),
        ("USD", 5, "$0.05"),
        ("USD", 129900, "$1,299.00"),
        ("EUR", 4900, "€49.00"),
        ("GBP", 4950, "£49.50"),
        ("CHF", 4900, "49.00 CHF"),
    ],
)
def test_catalogue_formats_prices_from_minor_units(client, settings, currency, amount, shown):
    # Given
    settings.DEPOT_CURRENCY = currency
    _product_with_tiers("formwell", "Formwell", [amount])

    # When
    cards = _cards(client)

    # Then
    [(_, price)] = cards["formwell"]["tiers"]
    assert price == shown


def test_catalogue_hides_inactive_tiers(client):
    # Given
    product = _product_with_tiers("formwell", "Formwell", [4900, 9800, 29400])
    PriceTier.objects.filter(product=product, name="Tier 1").update(is_active=False)

    # When
    cards = _cards(client)

    # Then
    labels = [label for label, _ in cards["formwell"]["tiers"]]
    assert [label.split(" · ")[0] for label in labels] == ["Tier 0", "Tier 2"]
    assert "$98.00" not in client.get("/").content.decode()


def test_catalogue_hides_inactive_products_and_products_without_active_tiers(client):
    # Given
    _product_with_tiers("formwell", "Formwell", [4900])
    retired = _product_with_tiers("retired-plugin", "Retired Plugin", [7700])
    Product.objects.filter(pk=retired.pk).update(is_active=False)
    paused = _product_with_tiers("paused-plugin", "Paused Plugin", [8800])
    PriceTier.objects.filter(product=paused).update(is_active=False)

    # When
    response = client.get("/")
    cards = _cards(client)

    # Then
    assert set(cards) == {"formwell"}
    page = response.content.decode()
    for hidden in ("Retired Plugin", "Paused Plugin", "$77.00", "$88.00"):
        assert hidden not in page


def test_catalogue_says_so_when_nothing_is_on_sale(client):
    # Given
    _product_with_tiers("retired-plugin", "Retired Plugin", [7700])
    Product.objects.update(is_active=False)

    # When
    response = client.get("/")

    # Then
    assert response.status_code == 200
    assert "No plugins are on sale yet." in response.content.decode()
    assert _cards(client) == {}


def test_catalogue_queries_do_not_grow_with_products_or_tiers(
    client, django_assert_max_num_queries
):
    # Given
    for n in range(8):
        _product_with_tiers(f"plugin-{n}", f"Plugin {n}", [4900, 9800, 29400, 49900])

    # When
    with django_assert_max_num_queries(2):
        response = client.get("/")

    # Then
    assert response.status_code == 200
    parser = _Catalogue()
    parser.feed(response.content.decode())
    assert len(parser.cards) == 8
    assert all(len(card["tiers"]) == 4 for card in parser.cards.values())
