"""The webshop API's paths, each defined once: where a call goes and the name its request has in the statistics.

A path belongs to one of the three services (``orders``, ``payment``, ``stock``) and is written after that
service's base URL with ``{placeholders}``; its request name is the service's prefix and the path with the
placeholders in brackets (``/stock/add/[item_id]/[amount]``), whether the shopper's load or the seeding calls it.
Those names are what summary.json, the terminal table and users' gates show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class WebshopPath:
    """One endpoint of the webshop API."""

    service: str  # "orders", "payment" or "stock": also the service's prefix behind a gateway (--host)
    template: str  # after the service's base URL: "/add/{item_id}/{amount}"
    name: str = field(init=False)  # the request name: "/stock/add/[item_id]/[amount]"

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", f"/{self.service}" + _PLACEHOLDER.sub(r"[\1]", self.template))

    def url(self, base: str, **values: object) -> str:
        """The path under its service's base URL ``base``, with ``values`` in its placeholders."""
        return base + self.template.format(**values)


STOCK_BATCH_INIT = WebshopPath("stock", "/batch_init/{n}/{stock}/{price}")
STOCK_CREATE_ITEM = WebshopPath("stock", "/item/create/{price}")
STOCK_ADD = WebshopPath("stock", "/add/{item_id}/{amount}")
STOCK_FIND = WebshopPath("stock", "/find/{item_id}")

PAYMENT_BATCH_INIT = WebshopPath("payment", "/batch_init/{n}/{credit}")
PAYMENT_CREATE_USER = WebshopPath("payment", "/create_user")
PAYMENT_ADD_FUNDS = WebshopPath("payment", "/add_funds/{user_id}/{amount}")
PAYMENT_FIND_USER = WebshopPath("payment", "/find_user/{user_id}")

ORDERS_CREATE = WebshopPath("orders", "/create/{user_id}")
ORDERS_ADD_ITEM = WebshopPath("orders", "/addItem/{order_id}/{item_id}/{quantity}")
ORDERS_REMOVE_ITEM = WebshopPath("orders", "/removeItem/{order_id}/{item_id}")
ORDERS_CHECKOUT = WebshopPath("orders", "/checkout/{order_id}")
ORDERS_FIND = WebshopPath("orders", "/find/{order_id}")
