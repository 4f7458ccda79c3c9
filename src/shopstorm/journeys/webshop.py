"""The webshop target's journeys: the course benchmark's six stress scenarios (the ``stress`` mix) and its
consistency test (the ``consistency`` mix).

Weights 5/30/25/20/10/10 and think time between(1, 3) s, as in the benchmark. Each shopper makes its own user
with exactly the credit the journey needs, so whether a checkout should succeed is known in advance; the
checkouts draw on the seeded catalogue (ample stock, shared by every shopper, so items are contended as in a
real sale). The two refusal journeys expect the shop to say no: the refusal is their success, and a checkout
the shop wrongly accepts is their failure.
"""

from __future__ import annotations

import random
from typing import Any

from gevent.event import Event
from locust import events
from locust.exception import StopUser

from shopstorm.journeys.base import ShopstormUser, journey
from shopstorm.targets.webshop import WebshopShopper, WebshopTarget


class WebshopStressShopper(ShopstormUser):
    """A shopper of the webshop target running the benchmark's stress scenarios."""

    target_class = WebshopTarget
    target: WebshopTarget
    shop: WebshopShopper
    think_time = (1.0, 3.0)

    def _catalogue_items(self, count: int) -> list[tuple[str, int]]:
        return random.sample(self.target.catalogue(), count)

    def _funded_user(self, credit: int) -> str:
        user_id = self.shop.create_user()
        if credit > 0:
            self.shop.add_funds(user_id, credit)
        return user_id

    def _order_for(self, credit: int) -> tuple[str, str]:
        """A new user with exactly ``credit``, and an empty order of theirs: (order_id, user_id)."""
        user_id = self._funded_user(credit)
        return self.shop.create_order(user_id), user_id

    @journey(weight=5)
    def admin_restock(self) -> None:
        """A stock admin creates an item and adds stock to it."""
        item_id = self.shop.create_item(random.randint(1, 20))
        self.shop.add_stock(item_id, random.randint(10, 100))

    @journey(weight=30)
    def checkout_one(self) -> None:
        """Check out an order with one stocked catalogue item."""
        ((item_id, price),) = self._catalogue_items(1)
        order_id, user_id = self._order_for(price)
        self.shop.add_item(order_id, item_id)
        self.shop.checkout(order_id, user_id)

    @journey(weight=25)
    def checkout_two(self) -> None:
        """Check out an order with two stocked catalogue items."""
        (first, first_price), (second, second_price) = self._catalogue_items(2)
        order_id, user_id = self._order_for(first_price + second_price)
        self.shop.add_item(order_id, first)
        self.shop.add_item(order_id, second)
        self.shop.checkout(order_id, user_id)

    @journey(weight=20)
    def regret_and_checkout(self) -> None:
        """Add an item, regret it and remove it, add it back, then check out."""
        ((item_id, price),) = self._catalogue_items(1)
        order_id, user_id = self._order_for(price)
        self.shop.add_item(order_id, item_id)
        self.shop.remove_item(order_id, item_id)
        self.shop.add_item(order_id, item_id)
        self.shop.checkout(order_id, user_id)

    @journey(weight=10)
    def refused_out_of_stock(self) -> None:
        """A checkout the shop must refuse: the second item has too little stock."""
        ((item_id, price),) = self._catalogue_items(1)
        scarce_price = random.randint(1, 20)
        scarce_item = self.shop.create_item(scarce_price)
        self.shop.add_stock(scarce_item, 1)
        order_id, user_id = self._order_for(price + 2 * scarce_price)
        self.shop.add_item(order_id, item_id)
        self.shop.add_item(order_id, scarce_item, 2)
        self.shop.checkout(order_id, user_id, expect="refused", expect_reason="out_of_stock")

    @journey(weight=10)
    def refused_no_credit(self) -> None:
        """A checkout the shop must refuse: the shopper's credit is one short of the total."""
        ((item_id, price),) = self._catalogue_items(1)
        order_id, user_id = self._order_for(price - 1)
        self.shop.add_item(order_id, item_id)
        self.shop.checkout(order_id, user_id, expect="refused", expect_reason="insufficient_credit")


_everyone_spawned = Event()


@events.test_start.add_listener
def _hold_shoppers(**_: Any) -> None:
    _everyone_spawned.clear()


@events.spawning_complete.add_listener
def _release_shoppers(**_: Any) -> None:
    _everyone_spawned.set()


class WebshopConsistencyShopper(ShopstormUser):
    """The course benchmark's consistency test: every shopper waits until all are spawned, then they check out
    the prepared orders at once (each order once, or twice for a share of double submits), and stop when their
    process's share of orders is done. Whether a checkout was acknowledged or refused is for the audit to judge;
    only an unknown outcome (5xx, timeout, lost connection) fails the request."""

    target_class = WebshopTarget
    target: WebshopTarget
    shop: WebshopShopper
    think_time = (0.0, 0.0)

    def on_start(self) -> None:
        _everyone_spawned.wait(timeout=120)

    @journey(weight=1)
    def concurrent_checkout(self) -> None:
        """Check out the next prepared order (twice, if it is one of the double submits)."""
        order = self.target.next_order()
        if order is None:
            raise StopUser
        order_id, user_id, _lines, twice = order
        for _ in range(2 if twice else 1):
            self.shop.checkout(order_id, user_id, expect=("ok", "refused"))
