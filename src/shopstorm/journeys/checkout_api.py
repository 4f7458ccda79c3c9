"""The checkout-api target's journeys: the sequential checkout flow, Polar's weighted task mix, and the payment
provider's inbound event.

Mixes:

- ``flow`` (default): ``checkout_flow`` — create (the free product) → update customer → get → confirm (success
  means status ``confirmed``) → settle (poll until ``succeeded``; its time from the confirm is the ``settlement``
  journey). ``inbound_payment`` (weight 0 here; ``--journey inbound_payment`` or ``--weight inbound_payment=1``)
  does the same for the paid product, confirmed with a Stripe confirmation token, and settles through a signed
  ``charge.succeeded`` event.
- ``polar``: the tasks of Polar's ``CheckoutUser`` — create 10, update customer 5, get 3, confirm 1 — each on the
  shopper's own checkouts, as separate journeys.
- ``payments``: ``checkout_flow`` and ``inbound_payment`` half and half.

No think time by default (an API client, not a person); customers' names and addresses come from Faker, their
emails from ``--customer-email`` (``$LOAD_TEST_CUSTOMER_EMAIL``), one sub-address per checkout
(:meth:`~shopstorm.targets.checkout_api.CheckoutApiTarget.customer_email`).
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from shopstorm.journeys.base import ShopstormUser, journey
from shopstorm.journeys.storefront import shopper_identity
from shopstorm.metrics.journeys import journey_timer
from shopstorm.targets.checkout_api import Checkout, CheckoutApiShopper, CheckoutApiTarget

MAX_OPEN_CHECKOUTS = 20  # a polar-mix shopper keeps at most this many open checkouts to update, read and confirm


def customer() -> dict[str, Any]:
    """A customer's email, name and billing address."""
    person = shopper_identity()
    return {
        "customer_email": person["email"],
        "customer_name": f"{person['first_name']} {person['last_name']}",
        "customer_billing_address": {
            "line1": person["street_address_1"],
            "city": person["city"],
            "postal_code": person["postal_code"],
            "country": person["country"],
        },
    }


class CheckoutFlowShopper(ShopstormUser):
    """A client of a payment platform going through whole checkouts."""

    target_class = CheckoutApiTarget
    target: CheckoutApiTarget
    shop: CheckoutApiShopper
    think_time = (0.0, 0.0)

    def _customer(self) -> dict[str, Any]:
        return {**customer(), "customer_email": self.target.customer_email()}

    def _created_and_confirmed(self, paid: bool) -> tuple[Checkout, dict[str, Any]]:
        details = self._customer()
        checkout = self.shop.create(details["customer_email"], paid)
        self.shop.update_customer(checkout, details)
        self.shop.get(checkout)
        return self.shop.confirm(checkout), details

    @journey(weight=1)
    def checkout_flow(self) -> None:
        """Create, update the customer, get, confirm, and wait until the payment settles."""
        confirmed, _ = self._created_and_confirmed(paid=False)
        with journey_timer("settlement"):
            self.shop.settle(confirmed)

    @journey(weight=0)
    def inbound_payment(self) -> None:
        """The same for the paid product, confirmed with a Stripe confirmation token: the provider's signed
        charge.succeeded settles it."""
        confirmed, details = self._created_and_confirmed(paid=True)
        with journey_timer("settlement"):
            self.shop.pay_at_provider(confirmed, details)
            self.shop.settle(confirmed)


class CheckoutPaymentsShopper(CheckoutFlowShopper):
    """Half the checkouts free (settled by the shop alone), half paid through the provider's inbound event."""

    journey_weights: ClassVar[dict[str, int]] = {"checkout_flow": 1, "inbound_payment": 1}


class PolarCheckoutUser(ShopstormUser):
    """Polar's load-test ``CheckoutUser``: weighted tasks on the shopper's own open checkouts."""

    target_class = CheckoutApiTarget
    target: CheckoutApiTarget
    shop: CheckoutApiShopper
    think_time = (0.0, 0.0)

    def on_start(self) -> None:
        self.open_checkouts: list[Checkout] = []

    def _an_open_checkout(self) -> Checkout:
        if not self.open_checkouts:
            self.create_checkout()
        return random.choice(self.open_checkouts)

    @journey(weight=10)
    def create_checkout(self) -> None:
        """Create a checkout for the product."""
        self.open_checkouts.append(self.shop.create(self.target.customer_email()))
        del self.open_checkouts[:-MAX_OPEN_CHECKOUTS]

    @journey(weight=5)
    def update_customer(self) -> None:
        """Fill in the customer of one of the shopper's open checkouts."""
        details = {**customer(), "customer_email": self.target.customer_email()}
        self.shop.update_customer(self._an_open_checkout(), details)

    @journey(weight=3)
    def get_checkout(self) -> None:
        """Read one of the shopper's checkouts."""
        self.shop.get(self._an_open_checkout())

    @journey(weight=1)
    def confirm_checkout(self) -> None:
        """Confirm one of the shopper's open checkouts (its status must become confirmed)."""
        checkout = self._an_open_checkout()
        self.open_checkouts.remove(checkout)
        self.shop.confirm(checkout)
