"""The webshop target's calls outside the load: seeding before it, reading the shop's state back after it.

These run in the master or local process on a plain HTTP session with short timeouts, many at a time but
bounded. Seeding stops at the first failure with one line (exit code 4); reading state never stops: an entity
that cannot be read is marked unreadable with the reason, and the audit reports it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import requests
from gevent.pool import Pool

from shopstorm.audit.state import ItemState, OrderState, ShopState, UserState
from shopstorm.errors import TargetUnreachable
from shopstorm.targets.base import Reply, classify

CONCURRENCY = 32
TIMEOUT = (3.0, 10.0)  # connect, read: an unreachable shop is reported well within 10 s

T = TypeVar("T")


def _plain(error: requests.RequestException) -> str:
    """'connection refused' rather than a urllib3 repr three exceptions deep."""
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "timed out", "Connection reset"):
        if marker in text:
            return marker.lower()
    return type(error).__name__


def _integer(body: Any, key: str) -> int:
    value = body.get(key) if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{key!r} is not a whole number: {value!r}")
    return int(value)


class WebshopAdmin:
    """Seeding and state reads against the three services."""

    def __init__(self, order_url: str, payment_url: str, stock_url: str) -> None:
        self.order_url, self.payment_url, self.stock_url = order_url, payment_url, stock_url
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.pool = Pool(CONCURRENCY)

    def map(self, function: Callable[..., T], *iterables: Iterable) -> list[T]:
        """``function`` over the arguments, at most CONCURRENCY at a time, results in order."""
        return list(self.pool.imap(function, *iterables))

    # --- one call --------------------------------------------------------------------------------------------

    def read(self, method: str, url: str) -> Reply:
        """One call, classified; never raises."""
        try:
            response = self.session.request(method, url, timeout=TIMEOUT)
        except requests.RequestException as error:
            return Reply(0, "unknown", None, f"connection error: {_plain(error)}")
        return classify(response.status_code, response.text, None)

    def send(self, method: str, url: str, name: str, *, missing_ok: bool = False) -> Reply:
        """One seeding call: anything but ok (or a missing endpoint, when allowed) stops the run (exit 4)."""
        reply = self.read(method, url)
        if reply.outcome == "ok" or (missing_ok and reply.status in (404, 405)):
            return reply
        if reply.status == 0:
            raise TargetUnreachable(f"cannot reach the shop: {method} {url}: {reply.detail.split(': ', 1)[-1]}")
        raise TargetUnreachable(f"the shop refused {method} {name}: {reply.detail}")

    def _field(self, reply: Reply, key: str, call: str) -> str:
        value = reply.body.get(key) if isinstance(reply.body, dict) else None
        if value is None:
            raise TargetUnreachable(f"the shop's {call} answered without {key!r} ({reply.detail})")
        return str(value)

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
        item_id = self._field(reply, "item_id", "item/create")
        self.send("POST", f"{self.stock_url}/add/{item_id}/{stock}", "/stock/add/[item_id]/[amount]")
        return item_id

    def create_funded_user(self, credit: int) -> str:
        reply = self.send("POST", f"{self.payment_url}/create_user", "/payment/create_user")
        user_id = self._field(reply, "user_id", "create_user")
        if credit > 0:
            self.send("POST", f"{self.payment_url}/add_funds/{user_id}/{credit}", "/payment/add_funds/[user_id]/[n]")
        return user_id

    def create_order(self, user_id: str, lines: list[tuple[str, int]]) -> str:
        reply = self.send("POST", f"{self.order_url}/create/{user_id}", "/orders/create/[user_id]")
        order_id = self._field(reply, "order_id", "orders/create")
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

    def find_stock(self, item_id: str) -> int | None:
        reply = self.send("GET", f"{self.stock_url}/find/{item_id}", "/stock/find/[item_id]")
        return reply.body.get("stock") if isinstance(reply.body, dict) else None

    # --- reading state back ----------------------------------------------------------------------------------

    def read_state(self, item_ids: Iterable[str], user_ids: Iterable[str], order_ids: Iterable[str]) -> ShopState:
        state = ShopState()

        def read_item(item_id: str) -> None:
            reply = self.read("GET", f"{self.stock_url}/find/{item_id}")
            self._keep(state, "item", item_id, reply, lambda b: ItemState(_integer(b, "stock"), _integer(b, "price")))

        def read_user(user_id: str) -> None:
            reply = self.read("GET", f"{self.payment_url}/find_user/{user_id}")
            self._keep(state, "user", user_id, reply, lambda b: UserState(_integer(b, "credit")))

        def read_order(order_id: str) -> None:
            reply = self.read("GET", f"{self.order_url}/find/{order_id}")
            self._keep(state, "order", order_id, reply, _order_state)

        self.map(read_item, sorted(set(item_ids)))
        self.map(read_user, sorted(set(user_ids)))
        self.map(read_order, sorted(set(order_ids)))
        return state

    @staticmethod
    def _keep(state: ShopState, kind: str, entity: str, reply: Reply, parse: Callable[[Any], Any]) -> None:
        if reply.outcome != "ok":
            state.unreadable[kind, entity] = reply.detail
            return
        try:
            value = parse(reply.body)
        except (ValueError, TypeError, AttributeError) as error:
            state.unreadable[kind, entity] = f"unreadable answer: {error}"
            return
        {"item": state.items, "user": state.users, "order": state.orders}[kind][entity] = value


def _order_state(body: Any) -> OrderState:
    paid = body.get("paid")
    if not isinstance(paid, bool):
        raise ValueError(f"'paid' is not true or false: {paid!r}")
    lines = body.get("items")
    if not isinstance(lines, list) or not all(isinstance(line, list) and len(line) == 2 for line in lines):
        raise ValueError("'items' is not a list of [item_id, quantity]")
    parsed = tuple((str(item_id), _integer({"q": quantity}, "q")) for item_id, quantity in lines)
    return OrderState(str(body.get("user_id")), paid, parsed, _integer(body, "total_cost"))
