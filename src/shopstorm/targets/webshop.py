"""The ``webshop`` target: order, stock and payment REST services (the course webshop benchmark's API).

The shop is reached either through one gateway (``--host``; services under ``/orders``, ``/stock``, ``/payment``)
or at three base URLs from a ``urls.json`` (``{"ORDER_URL": …, "PAYMENT_URL": …, "STOCK_URL": …}``).
Seeding creates a catalogue of items with ample stock (``batch_init`` when the shop has it, else the create
endpoints); the readers (``find`` endpoints) read state back for audits. See docs/targets/webshop.md.
"""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from shopstorm.errors import TargetUnreachable, UsageError
from shopstorm.settings import Settings, parse_base_url
from shopstorm.targets.base import Outcome, Reply, Target, call, classify

SEED_CONCURRENCY = 16
SEED_TIMEOUT = (3.0, 5.0)  # connect, read: an unreachable shop is reported well within 10 s


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

    Each method is one journey step: it names its request with a template (``/orders/checkout/[order_id]``)
    and raises :class:`~shopstorm.targets.base.JourneyFailed` unless the shop answers as expected.
    """

    def __init__(self, http: Any, endpoints: WebshopEndpoints) -> None:
        self.http = http
        self.urls = endpoints

    def create_item(self, price: int) -> str:
        reply = call(
            self.http, "POST", f"{self.urls.stock_url}/item/create/{price}",
            name="/stock/item/create/[price]", step="create item",
        )  # fmt: skip
        return str(reply.field("item_id"))

    def add_stock(self, item_id: str, amount: int) -> Reply:
        return call(
            self.http, "POST", f"{self.urls.stock_url}/add/{item_id}/{amount}",
            name="/stock/add/[item_id]/[amount]", step="add stock",
        )  # fmt: skip

    def create_user(self) -> str:
        reply = call(
            self.http, "POST", f"{self.urls.payment_url}/create_user",
            name="/payment/create_user", step="create user",
        )  # fmt: skip
        return str(reply.field("user_id"))

    def add_funds(self, user_id: str, amount: int) -> Reply:
        return call(
            self.http, "POST", f"{self.urls.payment_url}/add_funds/{user_id}/{amount}",
            name="/payment/add_funds/[user_id]/[amount]", step="add funds",
        )  # fmt: skip

    def create_order(self, user_id: str) -> str:
        reply = call(
            self.http, "POST", f"{self.urls.order_url}/create/{user_id}",
            name="/orders/create/[user_id]", step="create order",
        )  # fmt: skip
        return str(reply.field("order_id"))

    def add_item(self, order_id: str, item_id: str, quantity: int = 1) -> Reply:
        return call(
            self.http, "POST", f"{self.urls.order_url}/addItem/{order_id}/{item_id}/{quantity}",
            name="/orders/addItem/[order_id]/[item_id]/[quantity]", step="add item to order",
        )  # fmt: skip

    def remove_item(self, order_id: str, item_id: str) -> Reply:
        return call(
            self.http, "DELETE", f"{self.urls.order_url}/removeItem/{order_id}/{item_id}",
            name="/orders/removeItem/[order_id]/[item_id]", step="remove item from order",
        )  # fmt: skip

    def checkout(self, order_id: str, *, expect: Outcome = "ok", expect_reason: str | None = None) -> Reply:
        return call(
            self.http, "POST", f"{self.urls.order_url}/checkout/{order_id}",
            name="/orders/checkout/[order_id]", step="checkout", expect=expect, expect_reason=expect_reason,
        )  # fmt: skip

    def find_item(self, item_id: str) -> Reply:
        return call(
            self.http, "GET", f"{self.urls.stock_url}/find/{item_id}",
            name="/stock/find/[item_id]", step="find item",
        )  # fmt: skip


class WebshopAdmin:
    """Calls outside the load (seeding, reading state back), on a plain HTTP session with short timeouts.

    Every answer is classified like a shopper's; anything but ``ok`` raises
    :class:`~shopstorm.errors.TargetUnreachable` with one line naming the call and what went wrong.
    """

    def __init__(self, endpoints: WebshopEndpoints, timeout: tuple[float, float] = SEED_TIMEOUT) -> None:
        self.urls = endpoints
        self.timeout = timeout
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=SEED_CONCURRENCY)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def send(self, method: str, url: str, name: str, *, missing_ok: bool = False) -> Reply:
        try:
            response = self.session.request(method, url, timeout=self.timeout)
            reply = classify(response.status_code, response.text, None)
        except requests.RequestException as error:
            raise TargetUnreachable(f"cannot reach the shop: {method} {url}: {_plain(error)}") from None
        if reply.outcome == "ok" or (missing_ok and reply.status in (404, 405)):
            return reply
        raise TargetUnreachable(f"the shop refused {method} {name}: {reply.detail}")

    def batch_init_items(self, count: int, stock: int, price: int) -> dict[str, int] | None:
        """Seed through ``batch_init``; ``None`` when the shop has no such endpoint (404/405)."""
        name = "/stock/batch_init/[n]/[stock]/[price]"
        url = f"{self.urls.stock_url}/batch_init/{count}/{stock}/{price}"
        reply = self.send("POST", url, name, missing_ok=True)
        if reply.outcome != "ok":
            return None
        ids = reply.body.get("item_ids") if isinstance(reply.body, dict) else None
        return {str(item_id): price for item_id in (ids or range(count))}

    def create_stocked_item(self, price: int, stock: int) -> str:
        reply = self.send("POST", f"{self.urls.stock_url}/item/create/{price}", "/stock/item/create/[price]")
        item_id = reply.body.get("item_id") if isinstance(reply.body, dict) else None
        if item_id is None:
            raise TargetUnreachable(f"the shop's item/create answered without item_id ({reply.detail})")
        self.send("POST", f"{self.urls.stock_url}/add/{item_id}/{stock}", "/stock/add/[item_id]/[amount]")
        return str(item_id)

    def find_item(self, item_id: str) -> Reply:
        return self.send("GET", f"{self.urls.stock_url}/find/{item_id}", "/stock/find/[item_id]")


def _plain(error: requests.RequestException) -> str:
    """'connection refused' rather than a urllib3 repr three exceptions deep."""
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "timed out", "Connection reset"):
        if marker in text:
            return marker.lower()
    return type(error).__name__


class WebshopTarget(Target):
    name = "webshop"
    description = "order/stock/payment REST services (course webshop benchmark API), via --host or --urls"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.endpoints = WebshopEndpoints.from_settings(settings)

    @property
    def base_url(self) -> str:
        return self.settings.host or self.endpoints.order_url

    def seed(self) -> dict[str, Any]:
        """A catalogue of ``seed_items`` items, each with ``seed_stock`` units; returns ``{"items": {id: price}}``."""
        admin = WebshopAdmin(self.endpoints)
        settings = self.settings
        items = None
        if settings.seed_mode in ("auto", "batch"):
            items = admin.batch_init_items(settings.seed_items, settings.seed_stock, settings.seed_price)
            if items is None and settings.seed_mode == "batch":
                raise TargetUnreachable("the shop has no /stock/batch_init endpoint (use --seed-mode create)")
        mode = "batch" if items is not None else "create"
        if items is None:
            prices = [random.randint(1, 2 * settings.seed_price) for _ in range(settings.seed_items)]
            with ThreadPoolExecutor(SEED_CONCURRENCY) as pool:
                ids = list(pool.map(lambda price: admin.create_stocked_item(price, settings.seed_stock), prices))
            items = dict(zip(ids, prices, strict=True))
        first = next(iter(items))
        if admin.find_item(first).body.get("stock") != settings.seed_stock:
            raise TargetUnreachable(f"seeding did not stick: item {first} does not read back its seeded stock")
        return {"items": items, "mode": mode}

    def shopper(self, http: Any) -> WebshopShopper:
        return WebshopShopper(http, self.endpoints)

    def catalogue(self) -> list[tuple[str, int]]:
        """Seeded (item_id, price) pairs."""
        return [(item_id, int(price)) for item_id, price in self.seed_data.get("items", {}).items()]
