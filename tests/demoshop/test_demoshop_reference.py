"""The demo shop's webshop API in its default, reference style answers as the course's reference implementation
(three Flask services on Redis behind nginx) does: JSON only for creates, reads and batch inits (status 200, not
201), plain text for state changes, Flask's HTML error page with 400 for refusals and unknown ids, and Flask's
404/405 pages for routes and methods it lacks."""

from __future__ import annotations

import pytest
import requests

FLASK_400_PAGE = "<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n<p>{}</p>\n"


@pytest.fixture
def shop_url(demo_shop) -> str:
    return demo_shop("sqlite").url


def _refused_with(response: requests.Response, message: str) -> None:
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == FLASK_400_PAGE.format(message)


def test_stock_answers_like_the_reference(shop_url: str) -> None:
    created = requests.post(f"{shop_url}/stock/item/create/5")
    assert (created.status_code, created.headers["content-type"]) == (200, "application/json")
    item_id = created.json()["item_id"]
    assert list(created.json()) == ["item_id"]
    assert requests.get(f"{shop_url}/stock/find/{item_id}").json() == {"stock": 0, "price": 5}

    added = requests.post(f"{shop_url}/stock/add/{item_id}/5")
    assert (added.status_code, added.text) == (200, f"Item: {item_id} stock updated to: 5")
    assert added.headers["content-type"].startswith("text/html")
    taken = requests.post(f"{shop_url}/stock/subtract/{item_id}/2")
    assert (taken.status_code, taken.text) == (200, f"Item: {item_id} stock updated to: 3")
    _refused_with(
        requests.post(f"{shop_url}/stock/subtract/{item_id}/4"), f"Item: {item_id} stock cannot get reduced below zero!"
    )
    _refused_with(requests.get(f"{shop_url}/stock/find/nope"), "Item: nope not found!")
    seeded = requests.post(f"{shop_url}/stock/batch_init/3/10/2")
    assert (seeded.status_code, seeded.json()) == (200, {"msg": "Batch init for stock successful"})
    assert requests.get(f"{shop_url}/stock/find/2").json() == {"stock": 10, "price": 2}


def test_payment_answers_like_the_reference(shop_url: str) -> None:
    created = requests.post(f"{shop_url}/payment/create_user")
    assert created.status_code == 200
    user_id = created.json()["user_id"]
    funded = requests.post(f"{shop_url}/payment/add_funds/{user_id}/30")
    assert (funded.status_code, funded.text) == (200, f"User: {user_id} credit updated to: 30")
    paid = requests.post(f"{shop_url}/payment/pay/{user_id}/12")
    assert (paid.status_code, paid.text) == (200, f"User: {user_id} credit updated to: 18")
    _refused_with(
        requests.post(f"{shop_url}/payment/pay/{user_id}/19"), f"User: {user_id} credit cannot get reduced below zero!"
    )
    assert requests.get(f"{shop_url}/payment/find_user/{user_id}").json() == {"user_id": user_id, "credit": 18}
    seeded = requests.post(f"{shop_url}/payment/batch_init/2/7")
    assert seeded.json() == {"msg": "Batch init for users successful"}


def test_orders_answer_like_the_reference(shop_url: str) -> None:
    requests.post(f"{shop_url}/stock/batch_init/2/1/3")
    requests.post(f"{shop_url}/payment/batch_init/2/10")
    created = requests.post(f"{shop_url}/orders/create/0")
    assert created.status_code == 200
    order_id = created.json()["order_id"]
    added = requests.post(f"{shop_url}/orders/addItem/{order_id}/0/1")
    assert (added.status_code, added.text) == (200, f"Item: 0 added to: {order_id} price updated to: 3")
    assert requests.get(f"{shop_url}/orders/find/{order_id}").json() == {
        "order_id": order_id,
        "paid": False,
        "items": [["0", 1]],
        "user_id": "0",
        "total_cost": 3,
    }
    checked_out = requests.post(f"{shop_url}/orders/checkout/{order_id}")
    assert (checked_out.status_code, checked_out.text) == (200, "Checkout successful")

    sold_out = requests.post(f"{shop_url}/orders/create/1").json()["order_id"]
    requests.post(f"{shop_url}/orders/addItem/{sold_out}/0/1")
    _refused_with(requests.post(f"{shop_url}/orders/checkout/{sold_out}"), "Out of stock on item_id: 0")
    broke = requests.post(f"{shop_url}/orders/create/1").json()["order_id"]
    requests.post(f"{shop_url}/orders/addItem/{broke}/1/1")
    requests.post(f"{shop_url}/payment/pay/1/9")
    _refused_with(requests.post(f"{shop_url}/orders/checkout/{broke}"), "User out of credit")
    _refused_with(requests.get(f"{shop_url}/orders/find/nope"), "Order: nope not found!")
    seeded = requests.post(f"{shop_url}/orders/batch_init/3/2/2/1")
    assert seeded.json() == {"msg": "Batch init for orders successful"}


def test_missing_routes_and_methods_answer_flask_pages(shop_url: str) -> None:
    unknown = requests.post(f"{shop_url}/orders/no/such/route")
    assert (unknown.status_code, unknown.headers["content-type"]) == (404, "text/html; charset=utf-8")
    assert "<title>404 Not Found</title>" in unknown.text
    wrong_method = requests.delete(f"{shop_url}/stock/find/0")
    assert wrong_method.status_code == 405
    assert set(wrong_method.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert "<p>The method is not allowed for the requested URL.</p>" in wrong_method.text
