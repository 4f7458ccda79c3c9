"""A real demo shop under hostile input stays a correct reference: 4xx for what it cannot take, never a 5xx.

A seeded fuzz sends thousands of random requests (the shop's own routes with hostile ids, garbage paths, every
method, bodies of nested JSON, huge numbers, invalid UTF-8 and wrong content types) and checks that none is
answered 5xx and that the shop still serves. The specific tests pin down the defects the fuzz stands guard
over: a body over the cap is refused 413 before it is read, with the shop's memory bounded; deep or non-finite
JSON on ``/v1`` is a 422; a Stripe signature dated more than five minutes away, either way, is refused.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import psutil
import pytest
import requests
import stripe
from checkout_api_client import STRIPE_SECRET, TOKEN, CheckoutClient
from starlette.routing import BaseRoute, Mount, Route

from shopstorm.demoshop.app import build_app
from shopstorm.demoshop.core.body_limit import MAX_BODY_BYTES
from shopstorm.demoshop.core.faults import FaultSwitches
from shopstorm.demoshop.core.store import Store, parse_store_url

SEED = 11
FUZZ_REQUESTS = 2400
STRIPE_PATH = "/v1/integrations/stripe/webhook"
DEEP = 100_000


@pytest.fixture
def shop(demo_shop) -> Any:
    return demo_shop("sqlite", api_token=TOKEN, stripe_secret=STRIPE_SECRET)


def stripe_signature(payload: bytes, signed_at: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(payload.decode("latin-1"), STRIPE_SECRET, signed_at)


# --- the fuzz ----------------------------------------------------------------------------------------------


def shop_routes() -> list[tuple[str, list[str]]]:
    """Every route template of the demo shop's app with its methods, read from the app itself."""
    app = build_app(Store(parse_store_url("sqlite:///unused.db")), FaultSwitches())

    def walk(routes: list[BaseRoute], prefix: str) -> Iterator[tuple[str, list[str]]]:
        for route in routes:
            if isinstance(route, Mount):
                yield from walk(route.routes, prefix + route.path)
            elif isinstance(route, Route):
                yield prefix + route.path, sorted(route.methods or ["GET"])

    return list(walk(app.routes, ""))


HOSTILE_IDS = [
    "0",
    "1",
    "-1",
    "7",
    "1000000001",
    "99999999999999999999999999",
    "9" * 5000,
    "-" + "9" * 5000,
    "0" * 300 + "5",
    "1e400",
    "NaN",
    "abc",
    " ",
    "ñandú",
    "😀" * 50,
    "\u202e\u0000",
    "x" * 3000,
    "..",
    "a/b",
    "%00",
    "%ff%fe",
    "<script>",
    "'; DROP TABLE items; --",
    "shopper@example.com",
]
HOSTILE_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    1,
    2**63,
    10**30,
    -(10**30),
    1.5,
    "",
    " ",
    "x" * 5000,
    "ñ😀",
    "shopper@example.com",
    "@",
    "http://127.0.0.1:9/hooks",
    "ftp://x",
    "whsec_" + "c2VjcmV0" * 4,
    [],
    ["order.paid"],
    ["order.paid", 1],
    {},
    {"line1": "Main St", "nested": [[[["deep"]]]]},
    "dummy",
    "stripe",
    "raw",
]
BODY_FIELDS = [
    "name",
    "price_amount",
    "stock",
    "product_id",
    "customer_email",
    "customer_name",
    "customer_billing_address",
    "payment_processor",
    "url",
    "events",
    "secret",
    "format",
    "id",
    "type",
    "data",
]
FORM_FIELDS = ["quantity", "email", "password", "username", "method", "gateway", "charge_status", "country"]
CONTENT_TYPES = [
    None,
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "multipart/form-data; boundary=xyz",
    "application/json; charset=utf-16",
    "garbage/\u00ff",
]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CSRF = "a" * 32


class Fuzzer:
    """Random requests from one seed: a route of the shop (or garbage), a method, ids, headers and a body."""

    def __init__(self, seed: int, routes: list[tuple[str, list[str]]], real_ids: list[str]) -> None:
        self.rng = random.Random(seed)
        self.routes = routes
        self.ids = HOSTILE_IDS + real_ids

    def request(self) -> tuple[str, str, dict[str, str], bytes]:
        rng = self.rng
        template, methods = rng.choice(self.routes)
        method = rng.choice(methods) if rng.random() < 0.7 else rng.choice(METHODS)
        path = self.path(template) if rng.random() < 0.85 else self.garbage_path()
        if rng.random() < 0.3:
            path += "?" + self.query()
        headers = self.headers()
        body = self.body(headers)
        if template == STRIPE_PATH and rng.random() < 0.5:
            headers["Stripe-Signature"] = stripe_signature(body, int(time.time()) + rng.choice([0, 0, 10**9, -(10**6)]))
        return method, path, headers, body

    def path(self, template: str) -> str:
        parts = template.split("/")
        for index, part in enumerate(parts):
            if part.startswith("{"):
                parts[index] = quote(self.rng.choice(self.ids), safe="%")
        return "/".join(parts)

    def garbage_path(self) -> str:
        alphabet = "abc/%.-_~!$&'()*+,;=:@0123456789" + "ñ😀\u0000"
        return "/" + "".join(quote(self.rng.choice(alphabet), safe="/%") for _ in range(self.rng.randint(0, 60)))

    def query(self) -> str:
        names = ["page", "limit", "q", "checkout_id", "product_id", "x"]
        return "&".join(
            f"{self.rng.choice(names)}={quote(self.rng.choice(self.ids))}" for _ in range(self.rng.randint(1, 3))
        )

    def headers(self) -> dict[str, str]:
        rng = self.rng
        headers = {}
        if rng.random() < 0.7:
            headers["Authorization"] = f"Bearer {TOKEN}" if rng.random() < 0.8 else "Bearer nope"
        content_type = rng.choice(CONTENT_TYPES)
        if content_type is not None:
            headers["Content-Type"] = content_type.encode().decode("latin-1")
        if rng.random() < 0.6:
            headers["Cookie"] = f"csrftoken={CSRF}; sessionid={rng.choice(['x' * 40, 'garbage', ''])}"
            headers["X-CSRFToken"] = CSRF
        return headers

    def body(self, headers: dict[str, str]) -> bytes:
        rng = self.rng
        kind = rng.choice(["none", "object", "object", "form", "deep", "deep-object", "numbers", "bytes", "text"])
        if kind == "none":
            return b""
        if kind == "object":
            fields = rng.sample(BODY_FIELDS, rng.randint(0, 6))
            return json.dumps({field: rng.choice(HOSTILE_VALUES) for field in fields}).encode()
        if kind == "form":
            fields = {field: rng.choice(self.ids) for field in rng.sample(FORM_FIELDS, rng.randint(0, 4))}
            fields["csrfmiddlewaretoken"] = CSRF
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return "&".join(f"{quote(name)}={quote(value)}" for name, value in fields.items()).encode()
        if kind == "deep":
            depth = rng.choice([300, DEEP])
            return b"[" * depth + b"]" * depth
        if kind == "deep-object":
            field = rng.choice(BODY_FIELDS)
            return f'{{"{field}": '.encode() + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}"
        if kind == "numbers":
            field = rng.choice(BODY_FIELDS)
            number = rng.choice(["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "9" * 5000, "1e-400", "-0"])
            return f'{{"{field}": {number}, "customer_billing_address": {{"n": {number}}}}}'.encode()
        if kind == "bytes":
            return rng.randbytes(rng.randint(1, 2000))
        return rng.choice([b"\xff\xfe\xfd", b'{"name": "\xc3\x28"}', b'{"name": "\\ud800"}', b"{", b"null", b"[]"])


def test_a_seeded_fuzz_gets_no_5xx_and_the_shop_keeps_serving(shop: Any) -> None:
    api = CheckoutClient(shop.url)
    product = api.product()
    checkout = api.checkout(product)
    item_id = requests.post(f"{shop.url}/stock/item/create/5", timeout=10).json()["item_id"]
    real_ids = [product["id"], checkout["client_secret"], checkout["id"], item_id]
    fuzzer = Fuzzer(SEED, shop_routes(), real_ids)
    server_errors: list[str] = []
    started = time.monotonic()
    with requests.Session() as session:
        for _ in range(FUZZ_REQUESTS):
            method, path, headers, body = fuzzer.request()
            try:
                response = session.request(method, shop.url + path, headers=headers, data=body, timeout=10)
            except requests.ConnectionError as error:  # a request the shop dropped unanswered is a failure too
                server_errors.append(f"{method} {path[:100]} -> no answer: {error}")
                continue
            if response.status_code >= 500:
                server_errors.append(f"{method} {path[:100]} -> {response.status_code} {response.text[:200]}")
    elapsed = time.monotonic() - started

    assert server_errors == [], f"{len(server_errors)} answers 5xx, e.g. {server_errors[:5]}"
    assert elapsed < 60, f"the fuzz took {elapsed:.0f} s"
    assert shop.process.poll() is None, "the shop process died"
    assert requests.get(f"{shop.url}/health", timeout=5).status_code == 200
    assert requests.get(f"{shop.url}/stock/find/{item_id}", timeout=5).json() == {"stock": 0, "price": 5}
    assert api.get(checkout)["id"] == checkout["id"]


# --- bodies over the cap -----------------------------------------------------------------------------------


def raw_answer(url: str, head: bytes, timeout: float = 5.0) -> bytes:
    """Send only ``head`` (request line and headers) and read the answer until the shop closes the connection."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("path", "answer_starts"),
    [
        (STRIPE_PATH, b'{"error":"PayloadTooLarge"'),
        ("/v1/products/", b'{"error":"PayloadTooLarge"'),
        ("/stock/item/create/5", b"<!doctype html>\n<html lang=en>\n<title>413 Request Entity Too Large</title>"),
        ("/account/login/", b'{"error":"the request body is larger'),
    ],
)
def test_a_declared_oversized_body_is_refused_413_unread(shop: Any, path: str, answer_starts: bytes) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: shop\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {400 * 1024 * 1024}\r\n\r\n"
    ).encode()
    # The body is never sent: a shop that waits for it times out here instead of answering.
    status_line, _, rest = raw_answer(shop.url, head).partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413 ")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in headers.lower()
    assert body.startswith(answer_starts)


def test_a_streamed_body_stops_at_the_cap_and_the_shop_stays_small(shop: Any) -> None:
    shop_process = psutil.Process(shop.process.pid)
    before = shop_process.memory_info().rss
    peak = before
    uploading = True

    def watch() -> None:
        nonlocal peak
        while uploading:
            peak = max(peak, shop_process.memory_info().rss)
            time.sleep(0.005)

    def chunks() -> Iterator[bytes]:
        for _ in range(1600):  # 100 MiB, chunked: no Content-Length to refuse up front
            yield b"x" * 65536

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        response = requests.post(shop.url + STRIPE_PATH, data=chunks(), timeout=30)
    finally:
        uploading = False
        watcher.join()

    assert peak - before < 40 * 1024 * 1024, f"the shop grew by {(peak - before) >> 20} MiB for a refused body"
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge"
    within_cap = json.dumps({"name": "x" * (MAX_BODY_BYTES - 100), "price_amount": 1, "stock": 1})
    assert CheckoutClient(shop.url).call("POST", "/v1/products/", data=within_cap).status_code == 422


# --- unparseable JSON --------------------------------------------------------------------------------------


def test_deep_or_non_finite_json_on_v1_is_a_422_like_any_malformed_body(shop: Any) -> None:
    api = CheckoutClient(shop.url)
    checkout = api.checkout(api.product())
    secret = checkout["client_secret"]
    hostile = {
        "deep array": b"[" * DEEP + b"]" * DEEP,
        "deep object": b'{"name": ' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}",
        "deep but parseable by Python": b'{"customer_billing_address": ' + b'{"a":' * 500 + b"1" + b"}" * 500 + b"}",
        "1e400": b'{"customer_billing_address": {"line1": 1e400}}',
        "NaN": b'{"customer_billing_address": {"line1": NaN}}',
        "-Infinity": b'{"customer_email": -Infinity}',
        "lone surrogate": b'{"customer_name": "\\ud800"}',
        "invalid UTF-8": b'{"customer_name": "\xff"}',
        "not JSON": b"{",
    }
    for what, body in hostile.items():
        for method, path in (("POST", "/v1/products/"), ("PATCH", f"/v1/checkouts/client/{secret}")):
            response = api.call(method, path, data=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 422, f"{what} to {method} {path}: {response.status_code} {response.text}"
            assert response.json()["error"] == "RequestValidationError"
            assert [problem["type"] for problem in response.json()["detail"]] == ["json_invalid"], what
    assert api.get(checkout)["customer_billing_address"] is None


def test_a_signed_stripe_event_that_is_not_parseable_json_is_a_400(shop: Any) -> None:
    for body in (b"[" * DEEP + b"]" * DEEP, b'{"id": "evt_1", "type": "x", "n": NaN}'):
        signature = stripe_signature(body)
        response = requests.post(shop.url + STRIPE_PATH, data=body, headers={"Stripe-Signature": signature}, timeout=10)
        assert (response.status_code, response.json()["error"]) == (400, "InvalidPayload")


# --- Stripe signature timestamps ---------------------------------------------------------------------------


def test_stripe_signatures_are_accepted_only_within_five_minutes_of_now(shop: Any) -> None:
    def answer(offset_s: int) -> requests.Response:
        body = json.dumps({"id": f"evt_{offset_s}", "object": "event", "type": "customer.created"}).encode()
        signature = stripe_signature(body, int(time.time()) + offset_s)
        return requests.post(shop.url + STRIPE_PATH, data=body, headers={"Stripe-Signature": signature}, timeout=10)

    for offset_s in (0, -120, 120):
        response = answer(offset_s)
        assert (response.status_code, response.json()) == (200, {"received": True}), offset_s
    for offset_s in (-600, 600, 10 * 365 * 24 * 3600):
        response = answer(offset_s)
        assert (response.status_code, response.json()["error"]) == (400, "InvalidSignature"), offset_s
        assert "tolerance" in response.json()["detail"]
