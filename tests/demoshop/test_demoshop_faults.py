"""Each fault of the demo shop really produces its bug shape, so the audit has something to find."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

SHOPPERS = 50


def _seed(shop_url: str, stock: int, price: int, users: int, credit: int) -> None:
    assert requests.post(f"{shop_url}/stock/batch_init/1/{stock}/{price}").status_code == 200
    assert requests.post(f"{shop_url}/payment/batch_init/{users}/{credit}").status_code == 200


def _order(shop_url: str, user_id: str = "0", quantity: int = 1) -> str:
    order_id = requests.post(f"{shop_url}/orders/create/{user_id}").json()["order_id"]
    assert requests.post(f"{shop_url}/orders/addItem/{order_id}/0/{quantity}").status_code == 200
    return order_id


def _state(shop_url: str, order_id: str, user_id: str = "0") -> tuple[int, int, bool]:
    """(stock of item 0, credit of the user, whether the order is paid)."""
    return (
        requests.get(f"{shop_url}/stock/find/0").json()["stock"],
        requests.get(f"{shop_url}/payment/find_user/{user_id}").json()["credit"],
        requests.get(f"{shop_url}/orders/find/{order_id}").json()["paid"],
    )


def test_lost_update_oversells_under_concurrent_checkouts(demo_shop) -> None:
    shop_url = demo_shop("sqlite", faults=["lost-update"], webshop_answers="json").url
    users = 300
    _seed(shop_url, stock=100, price=1, users=users, credit=1)
    sessions = threading.local()

    def post(path: str) -> requests.Response:
        if not hasattr(sessions, "session"):
            sessions.session = requests.Session()
        return sessions.session.post(shop_url + path)

    with ThreadPoolExecutor(max_workers=SHOPPERS) as pool:
        created = pool.map(lambda user: post(f"/orders/create/{user}"), map(str, range(users)))
        order_ids = [response.json()["order_id"] for response in created]
        list(pool.map(lambda order_id: post(f"/orders/addItem/{order_id}/0/1"), order_ids))
        sold = sum(status == 200 for status in pool.map(lambda o: post(f"/orders/checkout/{o}").status_code, order_ids))
        stock_after_checkouts = requests.get(f"{shop_url}/stock/find/0").json()["stock"]
        added = Counter(pool.map(lambda _: post("/stock/add/0/1").status_code, range(200)))
    stock_after_additions = requests.get(f"{shop_url}/stock/find/0").json()["stock"]

    assert sold > 100 or stock_after_checkouts != 100 - sold, "checkouts should have oversold item 0"
    assert added == {200: 200}
    assert stock_after_additions < stock_after_checkouts + 200, "200 add_stock calls should have lost some"


def test_double_charge_checks_out_a_paid_order_again(demo_shop) -> None:
    shop_url = demo_shop("sqlite", faults=["double-charge"], webshop_answers="json").url
    _seed(shop_url, stock=10, price=5, users=1, credit=100)
    order_id = _order(shop_url, quantity=2)

    first = requests.post(f"{shop_url}/orders/checkout/{order_id}")
    second = requests.post(f"{shop_url}/orders/checkout/{order_id}")

    assert (first.status_code, second.status_code) == (200, 200)
    assert _state(shop_url, order_id) == (10 - 2 * 2, 100 - 2 * 10, True)


def test_no_rollback_keeps_the_stock_of_a_refused_checkout(demo_shop) -> None:
    shop_url = demo_shop("sqlite", faults=["no-rollback"], webshop_answers="json").url
    _seed(shop_url, stock=5, price=10, users=1, credit=5)
    order_id = _order(shop_url)

    refused = requests.post(f"{shop_url}/orders/checkout/{order_id}")

    assert (refused.status_code, refused.json()["reason"]) == (400, "insufficient_credit")
    assert _state(shop_url, order_id) == (4, 5, False)


def test_ack_before_commit_answers_success_but_loses_the_checkout(demo_shop) -> None:
    shop_url = demo_shop("sqlite", faults=["ack-before-commit"], webshop_answers="json").url
    _seed(shop_url, stock=5, price=10, users=1, credit=50)
    order_id = _order(shop_url)

    acknowledged = requests.post(f"{shop_url}/orders/checkout/{order_id}")

    assert (acknowledged.status_code, acknowledged.json()["paid"]) == (200, True)
    assert _state(shop_url, order_id) == (5, 50, False)


def test_error_after_commit_answers_500_but_the_checkout_happened(demo_shop) -> None:
    shop_url = demo_shop("sqlite", faults=["error-after-commit"], webshop_answers="json").url
    _seed(shop_url, stock=5, price=10, users=1, credit=50)
    order_id = _order(shop_url)

    failed = requests.post(f"{shop_url}/orders/checkout/{order_id}")

    assert (failed.status_code, failed.json()) == (500, {"error": "internal error"})
    assert _state(shop_url, order_id) == (4, 40, True)


def test_stall_holds_responses_inside_its_window(demo_shop) -> None:
    shop_url = demo_shop("sqlite", faults=["stall"], webshop_answers="json").url
    session = requests.Session()

    def seconds_for_health_at(offset_in_period: float) -> float:
        """Wait until ``offset_in_period`` seconds into the next 5 s wall-clock period, then time a request."""
        now = time.time()
        start = now - now % 5 + offset_in_period
        if start <= now:
            start += 5
        time.sleep(start - now)
        began = time.monotonic()
        assert session.get(f"{shop_url}/health").json()["faults"] == ["stall"]
        return time.monotonic() - began

    assert seconds_for_health_at(0.1) >= 0.5
    assert seconds_for_health_at(1.5) < 0.5
