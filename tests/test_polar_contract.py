"""Issue 13's table, row by row: the demo shop's checkout API answers as Polar does today (server/polar/checkout/,
product/, webhook/ of polarsource/polar), and the checkout-api target speaks to it the same way, so the suite tests
the real contract. Each test names its row."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from demoshop.checkout_api_client import CheckoutClient, WebhookReceiver, eventually
from shopstorm.errors import TargetUnreachable, UsageError
from shopstorm.replies import REASON_CHARS, refusal_reason
from shopstorm.settings import load_settings
from shopstorm.targets.checkout_api import WEBHOOKS_SKIPPED, CheckoutApiTarget
from shopstorm.targets.checkout_api_reader import CheckoutApiReader
from shopstorm.targets.signing import verify_standard_webhook
from support import run_cli

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
    created = api.call(
        "POST", "/v1/checkouts/", json={"products": [product["id"]], "customer_email": "a@shopstorm.dev"}
    )
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


# --- rows 3 and 4: webhooks --------------------------------------------------------------------------------------

POLAR_SECRET = "whsec_polar_made_this_secret_for_the_endpoint_0123"  # any string: Polar's are not base64


def hand_signed(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature from first principles: v1, base64(HMAC-SHA256(key, "id.t.body"))."""
    signed_content = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed_content, hashlib.sha256).digest()).decode()


def test_row_4_polar_keys_the_signature_with_the_whole_secret_string():
    body, timestamp = b'{"type":"order.paid","data":{"id":"o1"}}', 1_700_000_000
    polar = hand_signed(POLAR_SECRET.encode("utf-8"), "msg_1", timestamp, body)  # whsec_ included
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(timestamp), "webhook-signature": polar}
    assert verify_standard_webhook(POLAR_SECRET, body, headers, now=timestamp, secret_format="polar") is None
    # The same secret read the Standard Webhooks way is another key, and Polar's delivery does not verify with it.
    standard_secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    standard = hand_signed(b"0123456789abcdef0123456789abcdef", "msg_1", timestamp, body)
    assert verify_standard_webhook(standard_secret, body, {**headers, "webhook-signature": standard},
                                   now=timestamp, secret_format="standard") is None  # fmt: skip
    assert verify_standard_webhook(standard_secret, body, {**headers, "webhook-signature": standard},
                                   now=timestamp, secret_format="polar") == "no matching signature"  # fmt: skip


def test_row_4_the_demo_shop_signs_as_polar_does(api: CheckoutClient) -> None:
    with WebhookReceiver() as receiver:
        endpoint = api.create("/v1/webhooks/endpoints", {"url": receiver.url(), "events": ["checkout.updated"],
                                                         "secret": POLAR_SECRET, "format": "raw"})  # fmt: skip
        checkout = api.checkout(api.product(stock=None, price_amount=0))
        assert api.confirm(checkout).status_code == 200
        sent = eventually(lambda: receiver.delivered(), "a delivery")[0]
    assert endpoint["secret"] == POLAR_SECRET
    timestamp = int(sent.headers["webhook-timestamp"])
    expected = hand_signed(POLAR_SECRET.encode(), sent.webhook_id, timestamp, sent.body.encode())
    assert expected in sent.headers["webhook-signature"].split()


def test_row_3_polar_takes_only_public_https_webhook_urls(api: CheckoutClient) -> None:
    def refused(url: str) -> list[str]:
        answer = api.call("POST", "/v1/webhooks/endpoints", json={"url": url, "events": ["order.paid"]})
        return [problem["type"] for problem in answer.json()["detail"]] if answer.status_code == 422 else []

    assert refused("http://hooks.example.com/in") == ["url_scheme"]
    assert refused("https://10.0.0.5/in") == refused("https://192.168.1.2/in") == ["value_error"]
    assert refused("https://hooks.example.com/in") == []
    assert refused("http://127.0.0.1:9/hooks") == []  # the demo shop's one exception: a run on this machine


def test_row_3_a_remote_shop_needs_an_https_webhook_url_or_no_webhooks(tmp_path) -> None:
    remote = {"host": "https://sandbox-api.polar.sh", "api_token": TOKEN, "customer_email": "loadtest@yourco.com"}
    with pytest.raises(UsageError, match=r"--webhook-url https://… \(a tunnel"):
        CheckoutApiTarget(load_settings(remote, environ={}, cwd=tmp_path))
    CheckoutApiTarget(load_settings({**remote, "webhook_url": "https://abc.trycloudflare.com/webhooks"},
                                    environ={}, cwd=tmp_path))  # fmt: skip
    CheckoutApiTarget(load_settings({**remote, "webhooks": False}, environ={}, cwd=tmp_path))


def test_row_3_no_webhooks_says_in_one_line_that_the_webhook_invariants_are_skipped(api, tmp_path, capsys) -> None:
    target = CheckoutApiTarget(load_settings({"host": api.url, "api_token": TOKEN, "webhooks": False},
                                             environ={}, cwd=tmp_path))  # fmt: skip
    seed = target.seed()
    assert seed["webhooks"] is False and target.receiver is None
    assert capsys.readouterr().err.splitlines() == [WEBHOOKS_SKIPPED]


# --- row 2: customer emails --------------------------------------------------------------------------------------


def test_row_2_the_shop_refuses_emails_it_cannot_deliver_to(api: CheckoutClient) -> None:
    product = api.product(stock=None, price_amount=0)
    for email in ("shopper@example.test", "shopper@example.com", "a@mail.invalid"):
        answer = api.call("POST", "/v1/checkouts/", json={"products": [product["id"]], "customer_email": email})
        assert answer.status_code == 422, email
        assert [(p["loc"], p["type"]) for p in answer.json()["detail"]] == [(["body", "customer_email"], "value_error")]
        assert answer.json()["detail"][0]["msg"].startswith(f"{email} is not a valid email address: ")
    assert api.checkout(product, customer_email="loadtest+r1-1@yourco.com")["customer_email"].endswith("@yourco.com")


def test_row_2_each_checkout_gets_its_own_sub_address_of_the_email_given(tmp_path) -> None:
    settings = load_settings({"host": "https://api.polar.sh", "api_token": TOKEN, "webhooks": False,
                              "customer_email": "loadtest@yourco.com"}, environ={}, cwd=tmp_path)  # fmt: skip
    target = CheckoutApiTarget(settings)
    target.seed_data = {"run": "r1", "product_id": "p"}
    emails = {target.customer_email() for _ in range(50)}
    assert len(emails) == 50
    assert all(re.fullmatch(r"loadtest\+r1-[0-9a-f]{10}@yourco\.com", email) for email in emails), emails


def test_row_2_without_an_email_a_remote_run_stops_before_the_load_with_one_line(tmp_path) -> None:
    result = run_cli("run", "checkout-api", "--host", "https://sandbox-api.polar.sh", "--no-webhooks", "-t", "1s",
                     "--out", str(tmp_path / "out"), env={"LOAD_TEST_API_TOKEN": TOKEN}, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "shopstorm: Polar refuses customer emails it cannot deliver to (.test, example.com): give --customer-email "
        "loadtest@yourco.com (each checkout gets loadtest+<run>-<n>@yourco.com)"
    ]


# --- row 9: errors read like Polar's -----------------------------------------------------------------------------


def test_row_9_a_validation_detail_list_reads_as_field_and_message() -> None:
    body = {"error": "RequestValidationError", "detail": [
        {"loc": ["body", "customer_email"], "msg": "ann+r1-7@example.test is not a valid email address: no MX",
         "type": "value_error"},
        {"loc": ["body", "prices", 0, "price_amount"], "msg": "Field required", "type": "missing"},
    ]}  # fmt: skip
    reason = refusal_reason(body, None)
    assert reason.startswith("customer_email: [email] is not a valid email address: no MX; prices.price_am")
    assert reason.endswith("…") and len(reason) == REASON_CHARS  # cut to the reasons' width
    assert refusal_reason({"error": "NotOpenCheckout", "detail": "checkout is confirmed"}, None) == "NotOpenCheckout"
    assert refusal_reason({"detail": "Not Found"}, None) == "Not Found"


def test_row_9_the_shops_422_names_the_field_in_the_journey_failure_and_the_seed_error(api: CheckoutClient) -> None:
    reader = CheckoutApiReader(api.url, TOKEN)
    assert reader.read("POST", api.url + "/v1/checkouts/", json={}).detail == "HTTP 422 products: Field required"
    with pytest.raises(TargetUnreachable) as refused:
        reader.send("POST", api.url + "/v1/products/", "/v1/products/", json={"name": "no prices"})
    assert str(refused.value) == "the shop refused POST /v1/products/: HTTP 422 prices: Field required"


# --- rows 6 and 7: settlement -------------------------------------------------------------------------------------


def test_row_6_a_paid_confirm_needs_a_confirmation_token_and_a_free_one_settles_at_once(api: CheckoutClient) -> None:
    paid = api.checkout(api.product(stock=None, price_amount=900))
    refused = api.confirm(paid, confirmation_token_id=None)
    assert refused.status_code == 422
    assert [(p["loc"], p["type"]) for p in refused.json()["detail"]] == [(["body", "confirmation_token_id"], "missing")]
    assert api.confirm(paid).json()["status"] == "confirmed"  # with a token: it waits for Stripe's charge.succeeded
    free = api.checkout(api.product(stock=None, price_amount=0))
    assert api.confirm(free, confirmation_token_id=None).status_code == 200
    assert api.settled(free)["status"] == "succeeded"  # no provider event
    assert api.get(paid)["status"] == "confirmed"


def test_row_7_the_processor_is_stripe_and_there_is_no_payment_intent_id(api: CheckoutClient) -> None:
    checkout = api.checkout(api.product(stock=None))
    confirmed = api.confirm(checkout).json()
    for answer in (checkout, confirmed):
        assert answer["payment_processor"] == "stripe" and "payment_intent_id" not in answer


# --- row 5: rate limits -------------------------------------------------------------------------------------------


def test_row_5_the_sandbox_limits_answer_429_with_retry_after(demo_shop) -> None:
    api = CheckoutClient(demo_shop("sqlite", faults=["sandbox-limits"], api_token=TOKEN).url, TOKEN)
    if time.time() % 60 > 50:  # Polar counts in fixed minute windows: start the test well inside one
        time.sleep(60 - time.time() % 60 + 0.1)
    product = api.product(stock=None)
    checkouts = [api.checkout(product) for _ in range(7)]
    answers = [api.confirm(checkout) for checkout in checkouts]
    assert [answer.status_code for answer in answers] == [200] * 6 + [429]  # 6 confirms a minute
    assert 1700 < int(answers[-1].headers["Retry-After"]) <= 1800  # then blocked for 30 minutes
    assert answers[-1].json()["error"] == "TooManyRequests"
    reads = [api.call("GET", f"/v1/checkouts/client/{checkouts[0]['client_secret']}").status_code for _ in range(90)]
    assert reads.count(429) > 0 and reads[0] == 200  # 100 calls a minute per token, confirms included
    assert api.confirm(checkouts[-1]).status_code == 429  # still blocked
    other = CheckoutClient(api.url, "another-token").call("GET", "/v1/orders/")
    assert other.status_code == 401  # counted per token: the other one is not limited, only unknown
