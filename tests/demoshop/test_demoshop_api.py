"""The webshop API of a real demo shop process in its JSON answer style (``--webshop-answers json``), on SQLite and
on PostgreSQL: shapes, codes, refusals, bad input. The reference style is tested in test_demoshop_reference.py."""

from __future__ import annotations

import pytest
import requests

STORES = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def shop_url(request: pytest.FixtureRequest, demo_shop) -> str:
    return demo_shop(request.param, webshop_answers="json").url


def test_stock_service(shop_url: str) -> None:
    created = requests.post(f"{shop_url}/stock/item/create/7")
    assert created.status_code == 201
    item_id = created.json()["item_id"]
    assert len(item_id) == 32
    assert requests.get(f"{shop_url}/stock/find/{item_id}").json() == {"item_id": item_id, "stock": 0, "price": 7}

    added = requests.post(f"{shop_url}/stock/add/{item_id}/5")
    assert (added.status_code, added.json()) == (200, {"item_id": item_id, "stock": 5})
    taken = requests.post(f"{shop_url}/stock/subtract/{item_id}/2")
    assert (taken.status_code, taken.json()) == (200, {"item_id": item_id, "stock": 3})

    too_many = requests.post(f"{shop_url}/stock/subtract/{item_id}/4")
    assert too_many.status_code == 400
    assert "stock cannot get reduced below zero" in too_many.json()["error"]
    assert requests.get(f"{shop_url}/stock/find/{item_id}").json()["stock"] == 3


def test_stock_batch_init_upserts_exactly(shop_url: str) -> None:
    first = requests.post(f"{shop_url}/stock/batch_init/3/10/2")
    assert first.status_code == 200
    assert first.json()["item_ids"] == ["0", "1", "2"]
    requests.post(f"{shop_url}/stock/subtract/1/4")

    again = requests.post(f"{shop_url}/stock/batch_init/2/50/9")
    assert again.json()["item_ids"] == ["0", "1"]
    assert requests.get(f"{shop_url}/stock/find/1").json() == {"item_id": "1", "stock": 50, "price": 9}
    assert requests.get(f"{shop_url}/stock/find/2").json() == {"item_id": "2", "stock": 10, "price": 2}


def test_payment_service(shop_url: str) -> None:
    created = requests.post(f"{shop_url}/payment/create_user")
    assert created.status_code == 201
    user_id = created.json()["user_id"]
    assert requests.get(f"{shop_url}/payment/find_user/{user_id}").json() == {"user_id": user_id, "credit": 0}

    funded = requests.post(f"{shop_url}/payment/add_funds/{user_id}/30")
    assert (funded.status_code, funded.json()) == (200, {"done": True, "credit": 30})
    paid = requests.post(f"{shop_url}/payment/pay/{user_id}/12")
    assert (paid.status_code, paid.json()) == (200, {"user_id": user_id, "credit": 18})

    too_much = requests.post(f"{shop_url}/payment/pay/{user_id}/19")
    assert too_much.status_code == 400
    assert "credit cannot get reduced below zero" in too_much.json()["error"]
    assert requests.get(f"{shop_url}/payment/find_user/{user_id}").json()["credit"] == 18

    seeded = requests.post(f"{shop_url}/payment/batch_init/4/100")
    assert seeded.status_code == 200
    assert seeded.json()["user_ids"] == ["0", "1", "2", "3"]
    assert requests.get(f"{shop_url}/payment/find_user/3").json() == {"user_id": "3", "credit": 100}


def test_order_lines(shop_url: str) -> None:
    requests.post(f"{shop_url}/stock/batch_init/2/10/3")
    requests.post(f"{shop_url}/payment/batch_init/1/100")
    assert requests.post(f"{shop_url}/orders/create/no-such-user").status_code == 404
    created = requests.post(f"{shop_url}/orders/create/0")
    assert created.status_code == 201
    order_id = created.json()["order_id"]

    added = requests.post(f"{shop_url}/orders/addItem/{order_id}/0/2")
    assert (added.status_code, added.json()) == (200, {"order_id": order_id, "total_cost": 6})
    added_one = requests.post(f"{shop_url}/orders/addItem/{order_id}/1")  # the older benchmark's form
    assert added_one.json() == {"order_id": order_id, "total_cost": 9}
    requests.post(f"{shop_url}/orders/addItem/{order_id}/0/1")
    assert requests.get(f"{shop_url}/orders/find/{order_id}").json() == {
        "order_id": order_id,
        "paid": False,
        "items": [["0", 3], ["1", 1]],
        "user_id": "0",
        "total_cost": 12,
    }

    removed = requests.delete(f"{shop_url}/orders/removeItem/{order_id}/0")
    assert (removed.status_code, removed.json()["total_cost"]) == (200, 3)
    assert requests.get(f"{shop_url}/orders/find/{order_id}").json()["items"] == [["1", 1]]
    assert requests.delete(f"{shop_url}/orders/removeItem/{order_id}/0").status_code == 400
    assert requests.delete(f"{shop_url}/orders/removeItem/nope/0").status_code == 404
    assert requests.post(f"{shop_url}/orders/addItem/{order_id}/nope/1").status_code == 404
    assert requests.post(f"{shop_url}/orders/addItem/nope/0/1").status_code == 404


def _order(shop_url: str, user_id: str, *lines: tuple[str, int]) -> str:
    order_id = requests.post(f"{shop_url}/orders/create/{user_id}").json()["order_id"]
    for item_id, quantity in lines:
        assert requests.post(f"{shop_url}/orders/addItem/{order_id}/{item_id}/{quantity}").status_code == 200
    return order_id


def _stock(shop_url: str, item_id: str) -> int:
    return requests.get(f"{shop_url}/stock/find/{item_id}").json()["stock"]


def _credit(shop_url: str, user_id: str) -> int:
    return requests.get(f"{shop_url}/payment/find_user/{user_id}").json()["credit"]


def test_checkout_outcomes(shop_url: str) -> None:
    requests.post(f"{shop_url}/stock/batch_init/2/5/10")
    requests.post(f"{shop_url}/payment/batch_init/2/40")

    order_id = _order(shop_url, "0", ("0", 2), ("1", 1))
    paid = requests.post(f"{shop_url}/orders/checkout/{order_id}")
    assert (paid.status_code, paid.json()) == (200, {"order_id": order_id, "paid": True, "total_cost": 30})
    assert (_stock(shop_url, "0"), _stock(shop_url, "1"), _credit(shop_url, "0")) == (3, 4, 10)

    again = requests.post(f"{shop_url}/orders/checkout/{order_id}")
    assert (again.status_code, again.json()["reason"]) == (400, "already_paid")
    assert requests.post(f"{shop_url}/orders/addItem/{order_id}/0/1").status_code == 400
    assert requests.delete(f"{shop_url}/orders/removeItem/{order_id}/0").status_code == 400
    assert (_stock(shop_url, "0"), _credit(shop_url, "0")) == (3, 10)

    empty = requests.post(f"{shop_url}/orders/checkout/{_order(shop_url, '1')}")
    assert (empty.status_code, empty.json()["reason"]) == (400, "empty_order")

    # Item 1 is fine but item 0 runs out: neither item's stock nor the credit changes.
    short_of_stock = requests.post(f"{shop_url}/orders/checkout/{_order(shop_url, '1', ('1', 1), ('0', 4))}")
    assert (short_of_stock.status_code, short_of_stock.json()["reason"]) == (400, "out_of_stock")
    assert "error" in short_of_stock.json()
    assert (_stock(shop_url, "0"), _stock(shop_url, "1"), _credit(shop_url, "1")) == (3, 4, 40)

    short_of_credit = requests.post(f"{shop_url}/orders/checkout/{_order(shop_url, '0', ('0', 1), ('1', 1))}")
    assert (short_of_credit.status_code, short_of_credit.json()["reason"]) == (400, "insufficient_credit")
    assert (_stock(shop_url, "0"), _stock(shop_url, "1"), _credit(shop_url, "0")) == (3, 4, 10)

    assert requests.post(f"{shop_url}/orders/checkout/no-such-order").status_code == 404


def test_orders_batch_init(shop_url: str) -> None:
    requests.post(f"{shop_url}/stock/batch_init/5/100/4")
    requests.post(f"{shop_url}/payment/batch_init/3/1000")
    seeded = requests.post(f"{shop_url}/orders/batch_init/20/5/3/4")
    assert seeded.status_code == 200
    assert seeded.json()["order_ids"] == [str(index) for index in range(20)]
    assert requests.post(f"{shop_url}/orders/checkout/7").status_code == 200

    requests.post(f"{shop_url}/orders/batch_init/20/5/3/4")
    for order_id in ("0", "7", "19"):
        order = requests.get(f"{shop_url}/orders/find/{order_id}").json()
        assert order["paid"] is False
        assert order["user_id"] in {"0", "1", "2"}
        assert sum(quantity for _, quantity in order["items"]) == 2
        assert all(item_id in {"0", "1", "2", "3", "4"} for item_id, _ in order["items"])
        assert order["total_cost"] == 8


BAD_REQUESTS = [
    ("POST", "/stock/item/create/abc"),
    ("POST", "/stock/item/create/-1"),
    ("POST", "/stock/item/create/1.5"),
    ("POST", "/stock/add/0/abc"),
    ("POST", "/stock/add/0/0"),
    ("POST", "/stock/add/0/-3"),
    ("POST", "/stock/add/0/99999999999999999999999"),
    ("POST", "/stock/subtract/0/0"),
    ("POST", "/stock/add/no-such-item/1"),
    ("GET", "/stock/find/no-such-item"),
    ("GET", "/stock/find/%00"),
    ("POST", "/stock/batch_init/0/1/1"),
    ("POST", "/stock/batch_init/x/1/1"),
    ("POST", "/stock/batch_init/1/-1/1"),
    ("POST", "/payment/add_funds/0/zero"),
    ("POST", "/payment/add_funds/0/0"),
    ("POST", "/payment/pay/0/-5"),
    ("POST", "/payment/pay/no-such-user/1"),
    ("GET", "/payment/find_user/no-such-user"),
    ("POST", "/payment/batch_init/2/-100"),
    ("POST", "/orders/create/no-such-user"),
    ("POST", "/orders/addItem/no-such-order/0/1"),
    ("POST", "/orders/addItem/ORDER/0/0"),
    ("POST", "/orders/addItem/ORDER/0/-1"),
    ("POST", "/orders/addItem/ORDER/0/many"),
    ("POST", "/orders/addItem/ORDER/no-such-item/1"),
    ("DELETE", "/orders/removeItem/ORDER/no-such-item"),
    ("GET", "/orders/find/no-such-order"),
    ("POST", "/orders/checkout/no-such-order"),
    ("POST", "/orders/batch_init/1/0/1/1"),
    ("POST", "/orders/batch_init/1/1/1/-1"),
    ("GET", "/orders/checkout/ORDER"),
    ("POST", "/no/such/route"),
]


def test_bad_input_is_a_json_4xx(shop_url: str) -> None:
    requests.post(f"{shop_url}/stock/batch_init/1/10/1")
    requests.post(f"{shop_url}/payment/batch_init/1/10")
    order_id = requests.post(f"{shop_url}/orders/create/0").json()["order_id"]
    answers = {}
    for method, path in BAD_REQUESTS:
        response = requests.request(method, shop_url + path.replace("ORDER", order_id))
        answers[f"{method} {path}"] = (response.status_code, response.headers.get("content-type"))
        assert 400 <= response.status_code < 500, f"{method} {path}: {response.status_code} {response.text}"
        assert isinstance(response.json()["error"], str), f"{method} {path}: {response.text}"
    assert answers["GET /stock/find/no-such-item"][0] == 404
    assert answers["POST /stock/add/0/abc"][0] == 400
    assert answers["GET /orders/checkout/ORDER"][0] == 405


def test_health(shop_url: str) -> None:
    health = requests.get(f"{shop_url}/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok", "faults": []})
