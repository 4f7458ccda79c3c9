"""Issue 13's table, row by row: the demo shop's checkout API answers as Polar does today (server/polar/checkout/,
product/, webhook/ of polarsource/polar), and the checkout-api target speaks to it the same way, so the suite tests
the real contract. Each test names its row."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from demoshop.checkout_api_client import CheckoutClient
from shopstorm.targets.checkout_api_reader import CheckoutApiReader

TOKEN = "polar_oat_contract_test_token"


@pytest.fixture
def api(demo_shop) -> CheckoutClient:
    return CheckoutClient(demo_shop("sqlite", api_token=TOKEN).url, TOKEN)


@pytest.fixture
def old_polar() -> Iterator[str]:
    """A shop without ``POST /v1/checkouts/`` (an older self-hosted Polar): 405 to every POST."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(405)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"detail":"Method Not Allowed"}')

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_row_1_checkouts_are_created_with_products_and_the_old_client_create_is_gone(api: CheckoutClient) -> None:
    product = api.product(stock=None, price_amount=0)
    created = api.call("POST", "/v1/checkouts/", json={"products": [product["id"]], "customer_email": "a@b.co"})
    assert created.status_code == 201, created.text
    assert created.json()["product_id"] == product["id"] and created.json()["client_secret"].startswith("polar_c_")
    old = api.call("POST", "/v1/checkouts/client/", json={"product_id": product["id"]})
    assert old.status_code == 405


def test_row_1_the_seed_detects_the_creation_route_once(api: CheckoutClient, old_polar: str) -> None:
    assert CheckoutApiReader(api.url, TOKEN).checkout_api_version("auto") == "current"
    assert CheckoutApiReader(old_polar, TOKEN).checkout_api_version("auto") == "2024"
    assert CheckoutApiReader(old_polar, TOKEN).checkout_api_version("current") == "current"  # chosen: no probe


def test_row_11_a_product_needs_prices_has_no_stock_and_the_seed_makes_a_free_one(api: CheckoutClient) -> None:
    refused = api.call("POST", "/v1/products/", json={"name": "x", "price_amount": 10, "stock": 5})
    assert refused.status_code == 422
    assert [problem["loc"] for problem in refused.json()["detail"]] == [["body", "prices"]]
    product_id, stock = CheckoutApiReader(api.url, TOKEN).seed_product(None)
    product = api.call("GET", f"/v1/products/{product_id}").json()
    assert stock is None and "stock" not in product
    assert [(p["amount_type"], p["price_amount"]) for p in product["prices"]] == [("fixed", 0)]
    legacy_free = {"name": "y", "prices": [{"amount_type": "free"}]}
    assert api.create("/v1/products/", legacy_free)["prices"][0]["price_amount"] == 0  # Polar rewrites "free" to 0
