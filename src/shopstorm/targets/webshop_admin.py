"""The webshop target's calls outside the load: seeding the three services before it, reading them back after it.

Built on :class:`~shopstorm.targets.admin_http.AdminSession`: seeding stops at the first failure with one line
(exit code 4); reading state never stops, an entity that cannot be read is marked unreadable with the reason.
As everywhere, the status decides: only the create and ``find`` answers are read, for the fields named here.
Orders are read as :class:`~shopstorm.audit.order_books.OrderReading`: ``paid`` is needed, ``items`` and
``total_cost`` are a cross-check of shopstorm's own books, read in whatever shape the shop gives them.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from shopstorm.audit.order_books import OrderReading, read_lines, read_paid
from shopstorm.audit.state import ItemState, ShopState, UserState
from shopstorm.errors import TargetUnreachable
from shopstorm.replies import MAX_BODY, missing_field
from shopstorm.targets.admin_http import AdminSession, whole_number


class WebshopAdmin(AdminSession):
    """Seeding and state reads against the three services."""

    def __init__(self, order_url: str, payment_url: str, stock_url: str, max_body: int = MAX_BODY) -> None:
        super().__init__(max_body=max_body)
        self.order_url, self.payment_url, self.stock_url = order_url, payment_url, stock_url

    # --- seeding ---------------------------------------------------------------------------------------------

    def _batch_init(self, url: str, name: str, ids_key: str, count: int, value: int) -> dict[str, int] | None:
        """Seed ``count`` entities through a ``batch_init`` endpoint: {id: value}, or ``None`` when the shop has
        no such endpoint (404/405). Shops that do not list the ids made ``"0"``…``"count-1"``, as the course's do."""
        reply = self.send("POST", url, name, missing_ok=True)
        if reply.outcome != "ok":
            return None
        ids = reply.body.get(ids_key) if isinstance(reply.body, dict) else None
        return {str(entity_id): value for entity_id in (ids or range(count))}

    def batch_init_items(self, count: int, stock: int, price: int) -> dict[str, int] | None:
        url = f"{self.stock_url}/batch_init/{count}/{stock}/{price}"
        return self._batch_init(url, "/stock/batch_init/[n]/[stock]/[price]", "item_ids", count, price)

    def batch_init_users(self, count: int, credit: int) -> dict[str, int] | None:
        url = f"{self.payment_url}/batch_init/{count}/{credit}"
        return self._batch_init(url, "/payment/batch_init/[n]/[credit]", "user_ids", count, credit)

    def create_stocked_item(self, price: int, stock: int) -> str:
        reply = self.send("POST", f"{self.stock_url}/item/create/{price}", "/stock/item/create/[price]")
        item_id = self.field(reply, "item_id", "item/create")
        self.send("POST", f"{self.stock_url}/add/{item_id}/{stock}", "/stock/add/[item_id]/[amount]")
        return item_id

    def create_funded_user(self, credit: int) -> str:
        reply = self.send("POST", f"{self.payment_url}/create_user", "/payment/create_user")
        user_id = self.field(reply, "user_id", "create_user")
        if credit > 0:
            url = f"{self.payment_url}/add_funds/{user_id}/{credit}"
            self.send("POST", url, "/payment/add_funds/[user_id]/[amount]")
        return user_id

    def create_order(self, user_id: str, lines: list[tuple[str, int]]) -> str:
        reply = self.send("POST", f"{self.order_url}/create/{user_id}", "/orders/create/[user_id]")
        order_id = self.field(reply, "order_id", "orders/create")
        for item_id, quantity in lines:
            url = f"{self.order_url}/addItem/{order_id}/{item_id}/{quantity}"
            self.send("POST", url, "/orders/addItem/[order_id]/[item_id]/[quantity]")
        return order_id

    def seed_items(self, mode: str, count: int, stock: int, price: int) -> tuple[dict[str, int], str]:
        """``count`` items with ``stock`` each: via batch_init (mode batch, or auto when the shop has it), else
        the create endpoints at prices 1 to 2 times price. Returns ({item id: price}, the mode used)."""
        items = self.batch_init_items(count, stock, price) if mode in ("auto", "batch") else None
        if items is None and mode == "batch":
            raise TargetUnreachable("the shop has no /stock/batch_init endpoint (use --seed-mode create)")
        if items is not None:
            return items, "batch"
        prices = [random.randint(1, 2 * price) for _ in range(count)]
        ids = self.map(lambda item_price: self.create_stocked_item(item_price, stock), prices)
        return dict(zip(ids, prices, strict=True)), "create"

    def seed_users(self, mode: str, count: int, credit: int) -> dict[str, int]:
        users = self.batch_init_users(count, credit) if mode in ("auto", "batch") else None
        if users is not None:
            return users
        ids = self.map(lambda _: self.create_funded_user(credit), range(count))
        return dict.fromkeys(ids, credit)

    def find_stock(self, item_id: str) -> int:
        reply = self.send("GET", f"{self.stock_url}/find/{item_id}", "/stock/find/[item_id]")
        problem = missing_field(reply, "stock")
        if problem is not None:
            raise TargetUnreachable(f"the shop's GET /stock/find/[item_id] cannot be read: {problem}")
        try:
            return whole_number(reply.body, "stock")
        except ValueError as error:
            raise TargetUnreachable(f"the shop's GET /stock/find/[item_id] cannot be read: {error}") from None

    # --- reading state back ----------------------------------------------------------------------------------

    def read_state(
        self, item_ids: Iterable[str], user_ids: Iterable[str], order_ids: Iterable[str]
    ) -> tuple[ShopState, dict[str, OrderReading]]:
        """Items and users into the state; orders as readings, for the caller to reconcile with its books."""
        state, readings = ShopState(), {}

        def read_item(item_id: str) -> None:
            reply = self.read("GET", f"{self.stock_url}/find/{item_id}")
            self.keep(state, "item", item_id, reply, _item_state)

        def read_user(user_id: str) -> None:
            reply = self.read("GET", f"{self.payment_url}/find_user/{user_id}")
            self.keep(state, "user", user_id, reply, lambda b: UserState(whole_number(b, "credit")))

        def read_order(order_id: str) -> None:
            reply = self.read("GET", f"{self.order_url}/find/{order_id}")
            self.keep(state, "order", order_id, reply, _order_reading, into=readings)

        self.map(read_item, sorted(set(item_ids)))
        self.map(read_user, sorted(set(user_ids)))
        self.map(read_order, sorted(set(order_ids)))
        return state, readings


def _order_reading(body: Any) -> OrderReading:
    """``paid`` is needed (ValueError without it); ``items`` and ``total_cost`` are read where they can be."""
    if not isinstance(body, dict):
        raise ValueError("the answer is not a JSON object")
    paid = read_paid(body.get("paid"))
    lines, problem = None, None
    try:
        lines = read_lines(body.get("items"))
    except ValueError as error:
        problem = str(error)
    try:
        total = whole_number(body, "total_cost")
    except ValueError:
        total = None
    return OrderReading(paid, lines, total, problem)


def _item_state(body: Any) -> ItemState:
    return ItemState(whole_number(body, "stock"), whole_number(body, "price"))
