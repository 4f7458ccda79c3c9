"""The storefront target's journeys and its ``funnel`` mix, after the Saleor storefront workshop.

Two kinds of shopper: a *Visitor* (weight 80: just_visiting 3, search 47, bail_on_cart 25, buy 25) and a
*ReturningUser* (weight 20) who registers first (search 20, bail_on_cart 5, buy 75); think time between(5, 9) s
and form-filling pauses scaled by ``--user-speed``. Every journey reports the funnel steps it reached
(visit → product → cart → checkout → paid), so the summary can show how many journeys got how far.

Shopper data comes from Faker: every shopper gets a unique email (a random suffix keeps it unique across load
processes and runs), its own password and an address that validates in its country (:func:`shopper_address`).
"""

from __future__ import annotations

import random
import re
import uuid
from functools import cache
from typing import Any, ClassVar

from faker import Faker

from shopstorm.journeys.base import ShopstormUser, journey
from shopstorm.metrics.journeys import journey_timer
from shopstorm.metrics.measurements import MEASUREMENTS
from shopstorm.replies import JourneyFailed
from shopstorm.targets.storefront import StorefrontShopper, StorefrontTarget

FUNNEL_STEPS = ("visit", "product", "cart", "checkout", "paid")


# Each country's address comes from its own Faker locale, so that area, postcode and city belong together.
LOCALE_OF_COUNTRY = {"US": "en_US", "DE": "de_DE", "GB": "en_GB", "FR": "fr_FR", "NL": "nl_NL"}
# Postcodes Faker makes that the country never issues, so Google's address data refuses them: Faker's ZIP ranges of
# Florida and Hawaii reach into ZIPs of other areas (340xx: the armed forces in the Americas; 96799: American
# Samoa), and Dutch postcodes never end in SA, SD or SS.
NOT_ISSUED = {"US": re.compile(r"340\d\d|96799"), "NL": re.compile(r"\d{4} ?S[ADS]")}


@cache
def _faker() -> Faker:
    return Faker(list(LOCALE_OF_COUNTRY.values()))


def shopper_address(country: str) -> dict[str, str]:
    """A shipping address that validates in ``country`` (Saleor checks addresses with Google's i18n address data):
    a US address carries its state as ``country_area`` and a ZIP code of that state; other countries' postcodes
    and cities come from their own locale."""
    fake = _faker()[LOCALE_OF_COUNTRY[country]]
    address = {
        "first_name": fake.first_name(),
        "last_name": fake.last_name(),
        "street_address_1": fake.street_address().replace("\n", " "),
        "city": fake.city(),
        "country": country,
        "country_area": "",
    }
    if country == "US":
        address["country_area"] = fake.state_abbr(include_territories=False, include_freely_associated_states=False)
    address["postal_code"] = _issued_postcode(fake, country, address["country_area"])
    return address


def _issued_postcode(fake: Any, country: str, state: str) -> str:
    """A postcode of the country (of the US state, when given) that the country really issues."""
    not_issued = NOT_ISSUED.get(country)
    while True:
        postcode = fake.postcode_in_state(state) if state else fake.postcode()
        if not_issued is None or not not_issued.fullmatch(postcode):
            return postcode


def shopper_identity() -> dict[str, str]:
    """A unique email, a password and a shipping address for one shopper."""
    fake = _faker()
    profile = fake.simple_profile()
    local = profile["username"].replace(" ", "").lower()
    return {
        "email": f"{local}.{uuid.uuid4().hex[:12]}@example.test",
        "password": fake.password(length=14),
        **shopper_address(random.choice(list(LOCALE_OF_COUNTRY))),
    }


class StorefrontVisitor(ShopstormUser):
    """A visitor of a server-rendered shop: browses, searches, sometimes fills a cart, sometimes buys."""

    target_class = StorefrontTarget
    target: StorefrontTarget
    shop: StorefrontShopper
    weight = 80
    think_time = (5.0, 9.0)
    funnel_steps: ClassVar[tuple[str, ...]] = FUNNEL_STEPS

    def on_start(self) -> None:
        self.identity = shopper_identity()
        self.registered = False

    def _reached(self, step: str) -> None:
        MEASUREMENTS.record_funnel(step)

    def _to_a_product(self, via_search: bool = False) -> Any:
        page = self.shop.home()
        self._reached("visit")
        page = self.shop.search() if via_search else self.shop.category(page)
        product = self.shop.product(page)
        self._reached("product")
        return product

    def _fill_cart(self) -> None:
        self.shop.add_to_cart(self._to_a_product(), quantity=1)
        self._reached("cart")
        self.shop.cart()

    @journey(weight=3)
    def just_visiting(self) -> None:
        """Home, a category, a product, and gone."""
        self._to_a_product()

    @journey(weight=47)
    def search(self) -> None:
        """Search the shop and look at a product found."""
        self._to_a_product(via_search=True)

    @journey(weight=25)
    def bail_on_cart(self) -> None:
        """Put a product in the cart, look at the cart, leave."""
        self._fill_cart()

    @journey(weight=25)
    def buy(self) -> None:
        """Put a product in the cart and check out: address, shipping method, summary, payment."""
        self._fill_cart()
        self.shop.check_out(self.identity, self._reached)
        self._reached("paid")


class StorefrontReturningUser(StorefrontVisitor):
    """A shopper who registers first, and then buys far more often than a visitor."""

    weight = 20
    journey_weights: ClassVar[dict[str, int]] = {"just_visiting": 0, "search": 20, "bail_on_cart": 5, "buy": 75}

    def on_start(self) -> None:
        super().on_start()
        try:
            with journey_timer("register"):
                self.shop.sign_up(self.identity["email"], self.identity["password"])
            self.registered = True
        except JourneyFailed:
            pass  # recorded as a failed register journey; the shopper goes on as a guest
