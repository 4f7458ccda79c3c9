"""The correct demo shop under concurrent load on SQLite and PostgreSQL: no oversell, double charge or lost update."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
import requests

STORES = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
SHOPPERS = 50

Result = TypeVar("Result")
_sessions = threading.local()


def _session() -> requests.Session:
    if not hasattr(_sessions, "session"):
        _sessions.session = requests.Session()
    return _sessions.session


def _concurrently(task: Callable[[str], Result], arguments: Iterable[str]) -> list[Result]:
    with ThreadPoolExecutor(max_workers=SHOPPERS) as pool:
        return list(pool.map(task, arguments))


def _one_unit_orders(shop_url: str, user_count: int) -> list[str]:
    """One order per user ``"0"`` .. ``user_count - 1``, each for one unit of item ``"0"``."""

    def order_for(user_id: str) -> str:
        order_id = _session().post(f"{shop_url}/orders/create/{user_id}").json()["order_id"]
        assert _session().post(f"{shop_url}/orders/addItem/{order_id}/0/1").status_code == 200
        return order_id

    return _concurrently(order_for, [str(index) for index in range(user_count)])


@pytest.mark.parametrize("store", STORES)
def test_concurrent_checkouts_sell_exactly_the_stock(demo_shop, store: str) -> None:
    shop_url = demo_shop(store, webshop_answers="json").url
    users = 300
    requests.post(f"{shop_url}/stock/batch_init/1/100/1")
    requests.post(f"{shop_url}/payment/batch_init/{users}/1")
    order_ids = _one_unit_orders(shop_url, users)

    def checkout(order_id: str) -> tuple[int, str | None]:
        response = _session().post(f"{shop_url}/orders/checkout/{order_id}")
        return response.status_code, response.json().get("reason")

    outcomes = Counter(_concurrently(checkout, order_ids))

    assert outcomes == {(200, None): 100, (400, "out_of_stock"): users - 100}
    assert requests.get(f"{shop_url}/stock/find/0").json()["stock"] == 0
    credits = _concurrently(
        lambda user_id: _session().get(f"{shop_url}/payment/find_user/{user_id}").json()["credit"],
        [str(index) for index in range(users)],
    )
    assert sorted(set(credits)) == [0, 1]
    assert users - sum(credits) == 100
    paid = _concurrently(lambda order_id: _session().get(f"{shop_url}/orders/find/{order_id}").json(), order_ids)
    assert sorted(order["user_id"] for order in paid if order["paid"]) == sorted(
        str(index) for index, credit in enumerate(credits) if credit == 0
    )


@pytest.mark.parametrize("store", STORES)
def test_concurrent_checkouts_of_one_order_charge_once(demo_shop, store: str) -> None:
    shop_url = demo_shop(store, webshop_answers="json").url
    requests.post(f"{shop_url}/stock/batch_init/1/100/3")
    requests.post(f"{shop_url}/payment/batch_init/5/100")
    order_ids = _one_unit_orders(shop_url, 5)
    attempts = [order_id for order_id in order_ids for _ in range(20)]
    start_together = threading.Barrier(SHOPPERS)

    def checkout(order_id: str) -> tuple[str, int]:
        start_together.wait(timeout=10)
        return order_id, _session().post(f"{shop_url}/orders/checkout/{order_id}").status_code

    outcomes = Counter(_concurrently(checkout, attempts))

    assert outcomes == {**{(o, 200): 1 for o in order_ids}, **{(o, 400): 19 for o in order_ids}}
    assert requests.get(f"{shop_url}/stock/find/0").json()["stock"] == 95
    for user_id in ("0", "1", "2", "3", "4"):
        assert requests.get(f"{shop_url}/payment/find_user/{user_id}").json()["credit"] == 97


@pytest.mark.parametrize("store", STORES)
def test_concurrent_stock_and_credit_changes_lose_nothing(demo_shop, store: str) -> None:
    shop_url = demo_shop(store, webshop_answers="json").url
    requests.post(f"{shop_url}/stock/batch_init/2/1000/1")
    requests.post(f"{shop_url}/payment/batch_init/1/1000")
    changes = [
        *["/stock/add/0/2"] * 150,
        *["/stock/subtract/0/1"] * 150,
        *["/stock/subtract/1/1"] * 1010,
        *["/payment/add_funds/0/3"] * 100,
        *["/payment/pay/0/1"] * 100,
    ]

    statuses = Counter(_concurrently(lambda path: (path, _session().post(shop_url + path).status_code), changes))

    assert statuses[("/stock/subtract/1/1", 200)] == 1000
    assert statuses[("/stock/subtract/1/1", 400)] == 10
    assert sum(count for (_, status), count in statuses.items() if status != 200) == 10
    assert requests.get(f"{shop_url}/stock/find/0").json()["stock"] == 1000 + 300 - 150
    assert requests.get(f"{shop_url}/stock/find/1").json()["stock"] == 0
    assert requests.get(f"{shop_url}/payment/find_user/0").json()["credit"] == 1000 + 300 - 100
