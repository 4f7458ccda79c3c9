"""The checkout-api target's journeys: the sequential checkout flow, Polar's weighted task mix, and the payment
provider's inbound event.

Mixes:

- ``flow`` (default): ``checkout_flow`` — create (the free product) → update customer → get → confirm (success
  means status ``confirmed``) → settle (poll until ``succeeded``; its time from the confirm is the ``settlement``
  journey). ``inbound_payment`` (weight 0 here; ``--journey inbound_payment`` or ``--weight inbound_payment=1``)
  does the same for the paid product, confirmed with a Stripe confirmation token, and settles through a signed
  ``charge.succeeded`` event.
- ``polar``: Polar's own load test, ``CheckoutUser``: one ``polar_checkout_flow`` journey runs its sequence —
  create 4 times, update the customer twice, get, confirm — with its 1-5 s think time after every step
  (``--think-time`` changes it); the journey's time includes those waits.
- ``payments``: ``checkout_flow`` and ``inbound_payment`` half and half.

No think time by default in the other mixes (an API client, not a person); customers' names and addresses come
from Faker, their emails from ``--customer-email`` (``$LOAD_TEST_CUSTOMER_EMAIL``), one sub-address per checkout
(:meth:`~shopstorm.targets.checkout_api.CheckoutApiTarget.customer_email`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gevent

from shopstorm.journeys.base import ShopstormUser, journey
from shopstorm.journeys.storefront import shopper_identity
from shopstorm.metrics.journeys import journey_timer
from shopstorm.targets.checkout_api import Checkout, CheckoutApiShopper, CheckoutApiTarget


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
    """Polar's load-test ``CheckoutUser`` (server/load_tests/scenarios/checkout.py): its ``CheckoutFlowTaskSet``
    is sequential, each task as many times as its weight (create 4, update the customer 2, get 1, confirm 1), with
    a wait of ``between(1, 5)`` after every task; the later steps act on the last checkout created."""

    target_class = CheckoutApiTarget
    target: CheckoutApiTarget
    shop: CheckoutApiShopper
    think_time = (1.0, 5.0)

    @journey(weight=1)
    def polar_checkout_flow(self) -> None:
        """Create 4 checkouts, update the last one's customer twice, get it and confirm it, waiting between."""
        for _ in range(4):
            checkout = self.shop.create(self.target.customer_email())
            self._wait()
        for _ in range(2):
            self.shop.update_customer(checkout, {**customer(), "customer_email": self.target.customer_email()})
            self._wait()
        self.shop.get(checkout)
        self._wait()
        self.shop.confirm(checkout)

    def _wait(self) -> None:
        """The wait Locust puts after each task of a sequential task set: the mix's think time."""
        gevent.sleep(self.wait_time())
