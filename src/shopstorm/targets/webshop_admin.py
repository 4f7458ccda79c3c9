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
from shopstorm.targets.webshop_paths import (
    ORDERS_ADD_ITEM,
    ORDERS_CREATE,
    ORDERS_FIND,
    PAYMENT_ADD_FUNDS,
    PAYMENT_BATCH_INIT,
    PAYMENT_CREATE_USER,
    PAYMENT_FIND_USER,
    STOCK_ADD,
    STOCK_BATCH_INIT,
    STOCK_CREATE_ITEM,
    STOCK_FIND,
    WebshopPath,
)


class WebshopAdmin(AdminSession):
    """Seeding and state reads against the three services."""

    def __init__(self, order_url: str, payment_url: str, stock_url: str, max_body: int = MAX_BODY) -> None:
        super().__init__(max_body=max_body)
        self.order_url, self.payment_url, self.stock_url = order_url, payment_url, stock_url

    # --- seeding ---------------------------------------------------------------------------------------------

    def _batch_init(self, url: str, path: WebshopPath, ids_key: str, count: int, value: int) -> dict[str, int] | None:
        """Seed ``count`` entities through a ``batch_init`` endpoint: {id: value}, or ``None`` when the shop has
        no such endpoint (404/405). Shops that do not list the ids made ``"0"``…``"count-1"``, as the course's do."""
        reply = self.send("POST", url, path.name, missing_ok=True)
        if reply.outcome != "ok":
            return None
        ids = reply.body.get(ids_key) if isinstance(reply.body, dict) else None
        return {str(entity_id): value for entity_id in (ids or range(count))}

    def batch_init_items(self, count: int, stock: int, price: int) -> dict[str, int] | None:
        url = STOCK_BATCH_INIT.url(self.stock_url, n=count, stock=stock, price=price)
        return self._batch_init(url, STOCK_BATCH_INIT, "item_ids", count, price)

    def batch_init_users(self, count: int, credit: int) -> dict[str, int] | None:
        url = PAYMENT_BATCH_INIT.url(self.payment_url, n=count, credit=credit)
        return self._batch_init(url, PAYMENT_BATCH_INIT, "user_ids", count, credit)

    def create_stocked_item(self, price: int, stock: int) -> str:
        reply = self.send("POST", STOCK_CREATE_ITEM.url(self.stock_url, price=price), STOCK_CREATE_ITEM.name)
        item_id = self.field(reply, "item_id", "item/create")
        self.send("POST", STOCK_ADD.url(self.stock_url, item_id=item_id, amount=stock), STOCK_ADD.name)
        return item_id

    def create_funded_user(self, credit: int) -> str:
        reply = self.send("POST", PAYMENT_CREATE_USER.url(self.payment_url), PAYMENT_CREATE_USER.name)
        user_id = self.field(reply, "user_id", "create_user")
        if credit > 0:
            url = PAYMENT_ADD_FUNDS.url(self.payment_url, user_id=user_id, amount=credit)
            self.send("POST", url, PAYMENT_ADD_FUNDS.name)
        return user_id

    def create_order(self, user_id: str, lines: list[tuple[str, int]]) -> str:
        reply = self.send("POST", ORDERS_CREATE.url(self.order_url, user_id=user_id), ORDERS_CREATE.name)
        order_id = self.field(reply, "order_id", "orders/create")
        for item_id, quantity in lines:
            url = ORDERS_ADD_ITEM.url(self.order_url, order_id=order_id, item_id=item_id, quantity=quantity)
            self.send("POST", url, ORDERS_ADD_ITEM.name)
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
        reply = self.send("GET", STOCK_FIND.url(self.stock_url, item_id=item_id), STOCK_FIND.name)
        problem = missing_field(reply, "stock")
        if problem is not None:
            raise TargetUnreachable(f"the shop's GET {STOCK_FIND.name} cannot be read: {problem}")
        try:
            return whole_number(reply.body, "stock")
        except ValueError as error:
            raise TargetUnreachable(f"the shop's GET {STOCK_FIND.name} cannot be read: {error}") from None

    # --- reading state back ----------------------------------------------------------------------------------

    def read_state(
        self, item_ids: Iterable[str], user_ids: Iterable[str], order_ids: Iterable[str]
    ) -> tuple[ShopState, dict[str, OrderReading]]:
        """Items and users into the state; orders as readings, for the caller to reconcile with its books."""
        state, readings = ShopState(), {}

        def read_item(item_id: str) -> None:
            reply = self.read("GET", STOCK_FIND.url(self.stock_url, item_id=item_id))
            self.keep(state, "item", item_id, reply, _item_state)

        def read_user(user_id: str) -> None:
            reply = self.read("GET", PAYMENT_FIND_USER.url(self.payment_url, user_id=user_id))
            self.keep(state, "user", user_id, reply, lambda b: UserState(whole_number(b, "credit")))

        def read_order(order_id: str) -> None:
            reply = self.read("GET", ORDERS_FIND.url(self.order_url, order_id=order_id))
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
