"""The ``webshop`` target: order, stock and payment REST services (the course webshop benchmark's API).

The shop is reached either through one gateway (``--host``; services under ``/orders``, ``/stock``, ``/payment``)
or at three base URLs from a ``urls.json`` (``{"ORDER_URL": …, "PAYMENT_URL": …, "STOCK_URL": …}``).
Seeding creates a catalogue of items with ample stock (``batch_init`` when the shop has it, else the create
endpoints); the readers (``find`` endpoints) read state back for audits. See docs/targets/webshop.md.
"""

from __future__ import annotations

import json
import random
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shopstorm.audit.ledger import LEDGER, LOST, Entry
from shopstorm.audit.order_books import book_orders, reconcile
from shopstorm.audit.state import Baseline, ShopState
from shopstorm.errors import TargetUnreachable, UsageError
from shopstorm.replies import Outcome, Reply
from shopstorm.setting_values import parse_base_url
from shopstorm.settings import Settings
from shopstorm.targets.base import Target, call
from shopstorm.targets.webshop_admin import WebshopAdmin
from shopstorm.targets.webshop_paths import (
    ORDERS_ADD_ITEM,
    ORDERS_CHECKOUT,
    ORDERS_CREATE,
    ORDERS_REMOVE_ITEM,
    PAYMENT_ADD_FUNDS,
    PAYMENT_CREATE_USER,
    STOCK_ADD,
    STOCK_CREATE_ITEM,
    STOCK_FIND,
)


@dataclass(frozen=True)
class WebshopEndpoints:
    """Base URLs of the three services."""

    order_url: str
    payment_url: str
    stock_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> WebshopEndpoints:
        if settings.urls and settings.host:
            raise UsageError("give either --host or --urls, not both")
        if settings.urls:
            return cls.from_urls_file(settings.urls)
        if settings.host:
            return cls(f"{settings.host}/orders", f"{settings.host}/payment", f"{settings.host}/stock")
        raise UsageError("the webshop target needs --host URL or --urls urls.json")

    @classmethod
    def from_urls_file(cls, path: str) -> WebshopEndpoints:
        try:
            with open(path, encoding="utf-8") as file:
                urls = json.load(file)
        except OSError as error:
            raise UsageError(f"cannot read urls file {path}: {error.strerror}") from None
        except ValueError as error:
            raise UsageError(f"urls file {path} is not valid JSON: {error}") from None
        except RecursionError:
            raise UsageError(f"urls file {path} is not valid JSON: nested too deeply") from None
        if not isinstance(urls, dict):
            raise UsageError(f"urls file {path} must hold a JSON object with ORDER_URL, PAYMENT_URL, STOCK_URL")
        resolved = {}
        for key in ("ORDER_URL", "PAYMENT_URL", "STOCK_URL"):
            if key not in urls:
                raise UsageError(f"urls file {path} lacks {key}")
            try:
                resolved[key] = parse_base_url(urls[key])
            except ValueError as error:
                raise UsageError(f"urls file {path}: {key} {error}") from None
        return cls(resolved["ORDER_URL"], resolved["PAYMENT_URL"], resolved["STOCK_URL"])


class WebshopShopper:
    """One shopper's calls to the webshop API, through that shopper's Locust session.

    Each method is one journey step: it names its request with its path's template (``/orders/checkout/[order_id]``,
    :mod:`~shopstorm.targets.webshop_paths`)
    and raises :class:`~shopstorm.replies.JourneyFailed` unless the shop answers as expected. The status
    decides; only the create calls read their answer (the new id). Every call that creates an entity, changes an
    order's lines or moves stock or money is written to the ledger with what the shopper was told, also when the
    shopper is stopped before the answer (then: unknown): the audit takes an order's contents from these books.
    """

    def __init__(self, http: Any, endpoints: WebshopEndpoints) -> None:
        self.http = http
        self.urls = endpoints

    def create_item(self, price: int) -> str:
        reply = call(
            self.http, "POST", STOCK_CREATE_ITEM.url(self.urls.stock_url, price=price),
            name=STOCK_CREATE_ITEM.name, step="create item", need=("item_id",),
        )  # fmt: skip
        item_id = str(reply.field("item_id"))
        LEDGER.record("item", item_id, "", price, "ok", reply.detail)
        return item_id

    def add_stock(self, item_id: str, amount: int) -> Reply:
        return LEDGER.recorded("stock", item_id, "", amount, lambda: call(
            self.http, "POST", STOCK_ADD.url(self.urls.stock_url, item_id=item_id, amount=amount),
            name=STOCK_ADD.name, step="add stock",
        ))  # fmt: skip

    def create_user(self) -> str:
        reply = call(
            self.http, "POST", PAYMENT_CREATE_USER.url(self.urls.payment_url),
            name=PAYMENT_CREATE_USER.name, step="create user", need=("user_id",),
        )  # fmt: skip
        user_id = str(reply.field("user_id"))
        LEDGER.record("user", user_id, "", 0, "ok", reply.detail)
        return user_id

    def add_funds(self, user_id: str, amount: int) -> Reply:
        return LEDGER.recorded("funds", user_id, "", amount, lambda: call(
            self.http, "POST", PAYMENT_ADD_FUNDS.url(self.urls.payment_url, user_id=user_id, amount=amount),
            name=PAYMENT_ADD_FUNDS.name, step="add funds",
        ))  # fmt: skip

    def create_order(self, user_id: str) -> str:
        reply = call(
            self.http, "POST", ORDERS_CREATE.url(self.urls.order_url, user_id=user_id),
            name=ORDERS_CREATE.name, step="create order", need=("order_id",),
        )  # fmt: skip
        order_id = str(reply.field("order_id"))
        LEDGER.record("order", order_id, user_id, 0, "ok", reply.detail)
        return order_id

    def add_item(self, order_id: str, item_id: str, quantity: int = 1) -> Reply:
        url = ORDERS_ADD_ITEM.url(self.urls.order_url, order_id=order_id, item_id=item_id, quantity=quantity)
        return LEDGER.recorded("line", order_id, item_id, quantity, lambda: call(
            self.http, "POST", url, name=ORDERS_ADD_ITEM.name, step="add item to order",
        ))  # fmt: skip

    def remove_item(self, order_id: str, item_id: str) -> Reply:
        return LEDGER.recorded("unline", order_id, item_id, 0, lambda: call(
            self.http, "DELETE", ORDERS_REMOVE_ITEM.url(self.urls.order_url, order_id=order_id, item_id=item_id),
            name=ORDERS_REMOVE_ITEM.name, step="remove item from order",
        ))  # fmt: skip

    def checkout(
        self,
        order_id: str,
        user_id: str,
        *,
        expect: Outcome | tuple[Outcome, ...] = "ok",
        expect_reason: str | None = None,
    ) -> Reply:
        return LEDGER.recorded("checkout", order_id, user_id, 0, lambda: call(
            self.http, "POST", ORDERS_CHECKOUT.url(self.urls.order_url, order_id=order_id),
            name=ORDERS_CHECKOUT.name, step="checkout", expect=expect, expect_reason=expect_reason,
        ))  # fmt: skip

    def find_item(self, item_id: str) -> Reply:
        return call(
            self.http, "GET", STOCK_FIND.url(self.urls.stock_url, item_id=item_id),
            name=STOCK_FIND.name, step="find item",
        )  # fmt: skip


class WebshopTarget(Target):
    name = "webshop"
    description = "order/stock/payment REST services (course webshop benchmark API), via --host or --urls"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.endpoints = WebshopEndpoints.from_settings(settings)
        self._orders: deque[list] = deque()

    @property
    def base_url(self) -> str:
        return self.settings.host or self.endpoints.order_url

    def admin(self) -> WebshopAdmin:
        urls = self.endpoints
        return WebshopAdmin(urls.order_url, urls.payment_url, urls.stock_url, max_body=self.settings.max_body)

    def seed_plan(self) -> str:
        settings = self.settings
        plan = f"{settings.seed_items} item{'s' * (settings.seed_items != 1)} of {settings.seed_stock} units"
        if settings.checkouts:
            plan += f", {settings.seed_users} users with credit {settings.seed_credit}, {settings.checkouts} orders"
        return plan

    def seed(self) -> dict[str, Any]:
        """A catalogue of ``seed_items`` items with ``seed_stock`` units each; for a consistency run also
        ``seed_users`` users with ``seed_credit`` and ``checkouts`` orders ready to check out (order i belongs to
        user i mod users and holds ``quantity`` units of a random item)."""
        admin, settings = self.admin(), self.settings
        items, mode = admin.seed_items(
            settings.seed_mode, settings.seed_items, settings.seed_stock, settings.seed_price
        )
        first = next(iter(items))
        if admin.find_stock(first) != settings.seed_stock:
            raise TargetUnreachable(f"seeding did not stick: item {first} does not read back its seeded stock")
        seed: dict[str, Any] = {"mode": mode, "items": items, "stock": settings.seed_stock}
        if settings.checkouts:
            users = admin.seed_users(settings.seed_mode, settings.seed_users, settings.seed_credit)
            user_ids, item_ids = list(users), list(items)
            owners = [user_ids[i % len(user_ids)] for i in range(settings.checkouts)]
            lines = [[(random.choice(item_ids), settings.quantity)] for _ in owners]
            order_ids = admin.map(admin.create_order, owners, lines)
            twice = set(random.sample(range(len(order_ids)), round(settings.double_submit * len(order_ids))))
            seed["users"] = users
            seed["credit"] = settings.seed_credit
            prepared = enumerate(zip(order_ids, owners, lines, strict=True))
            seed["orders"] = [[order, user, line, i in twice] for i, (order, user, line) in prepared]
        return seed

    def use_seed(self, seed_data: dict[str, Any], share: tuple[int, int] = (0, 1)) -> None:
        super().use_seed(seed_data, share)
        index, shares = share
        self._orders = deque(order for i, order in enumerate(seed_data.get("orders", [])) if i % shares == index)

    def unreported(self, share: tuple[int, int], entries: Iterable[Entry]) -> list[Entry]:
        """Every prepared order of the lost process's share whose checkout never reached the ledger: it may have
        been checked out (in flight when the process died, or after its last report) or never tried; the audit
        reads the order back and decides."""
        index, shares = share
        reported = {entry.entity for entry in entries if entry.kind == "checkout"}
        now = time.time()
        return [
            Entry("checkout", order_id, user_id, 0, "unknown", LOST, now)
            for i, (order_id, user_id, *_) in enumerate(self.seed_data.get("orders", []))
            if i % shares == index and order_id not in reported
        ]

    def next_order(self) -> list | None:
        """The next prepared order of this process's share: [order_id, user_id, lines, check out twice]."""
        return self._orders.popleft() if self._orders else None

    def shopper(self, http: Any) -> WebshopShopper:
        return WebshopShopper(http, self.endpoints)

    def catalogue(self) -> list[tuple[str, int]]:
        """Seeded (item_id, price) pairs."""
        return [(item_id, int(price)) for item_id, price in self.seed_data.get("items", {}).items()]

    def baseline(self) -> Baseline:
        seed = self.seed_data
        return Baseline(
            stock=dict.fromkeys(seed.get("items", {}), seed.get("stock", 0)),
            credit=dict.fromkeys(seed.get("users", {}), seed.get("credit", 0)),
            orders={order_id: user_id for order_id, user_id, *_ in seed.get("orders", [])},
        )

    def read_state(self, entries: Iterable[Any]) -> ShopState:
        """Every seeded or touched item, user and order, read back. An order's lines, owner and total come from
        shopstorm's own books (the seed and the ledger); the shop's ``items`` and ``total_cost`` are only a
        cross-check, and what disagrees or cannot be read is a warning (see :mod:`shopstorm.audit.order_books`)."""
        entries = list(entries)
        baseline = self.baseline()
        items, users, orders = set(baseline.stock), set(baseline.credit), set(baseline.orders)
        owners = dict(baseline.orders)
        prices = {item_id: int(price) for item_id, price in self.seed_data.get("items", {}).items()}
        for entry in entries:
            {"item": items, "stock": items, "user": users, "funds": users}.get(entry.kind, orders).add(entry.entity)
            if entry.kind in ("order", "checkout") and entry.related:
                users.add(entry.related)
                owners.setdefault(entry.entity, entry.related)
            elif entry.kind == "item" and entry.outcome == "ok":
                prices[entry.entity] = entry.amount
        state, readings = self.admin().read_state(items, users, orders)
        seeded = {order_id: lines for order_id, _user, lines, *_ in self.seed_data.get("orders", [])}
        reconciled = reconcile(readings, book_orders(seeded, entries), owners, prices)
        state.orders = reconciled.orders
        state.unreadable.update({("order", order_id): why for order_id, why in reconciled.unreadable.items()})
        state.warnings = reconciled.warnings()
        return state
