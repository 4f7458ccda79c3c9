"""Test helpers for the demo shop's checkout API: a client with the shop's token, and a webhook receiver.

:class:`CheckoutClient` calls a real shop's ``/v1`` routes (one requests session per thread, so concurrent tests
can share it); :class:`WebhookReceiver` is an HTTP server in a thread on 127.0.0.1 that records every webhook it
is sent and can answer 500 to the first attempt of each webhook id. Every wait is bounded by :func:`eventually`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from support import Found
from support import eventually as wait_for_event

TOKEN = "polar_oat_test_token"
STRIPE_SECRET = "whsec_test_stripe_endpoint_secret"
CONFIRMATION_TOKEN = "ctoken_test_confirmation"  # a Stripe confirmation token: the demo shop takes any
STORES = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
WAIT_S = 15.0
# How long a test watches for something that must not happen (the idle job worker polls every 50 ms).
QUIET_S = 0.4


def eventually(check: Callable[[], Found], what: str, timeout: float = WAIT_S) -> Found:
    """:func:`support.eventually`, with this module's wait and a fast poll (the idle job worker polls every 50 ms)."""
    return wait_for_event(check, what, timeout, every=0.02)


class CheckoutClient:
    """The checkout API of one shop, as a client with the shop's token calls it (one session per thread)."""

    def __init__(self, url: str, token: str | None = TOKEN) -> None:
        self.url = url
        self.token = token
        self._local = threading.local()

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
            if self.token is not None:
                self._local.session.headers["Authorization"] = f"Bearer {self.token}"
        return self._local.session.request(method, self.url + path, timeout=10, **kwargs)

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.call("POST", path, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def product(self, stock: int | None = 10, price_amount: int = 0) -> dict[str, Any]:
        """A one-time product with one fixed price (Polar's ``prices``; free by default, so it settles without a
        provider event), and the demo's own stock unless None."""
        price = {"amount_type": "fixed", "price_amount": price_amount, "price_currency": "usd"}
        extra = {} if stock is None else {"stock": stock}
        return self.create("/v1/products/", {"name": "Sticker pack", "prices": [price], **extra})

    def checkout(self, product: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """A checkout made as Polar makes one: ``POST /v1/checkouts/`` with the organization token."""
        return self.create("/v1/checkouts/", {"products": [product["id"]], **fields})

    def confirm(self, checkout: dict[str, Any], **fields: Any) -> requests.Response:
        body = {"customer_email": "shopper@shopstorm.dev", "confirmation_token_id": CONFIRMATION_TOKEN, **fields}
        return self.call("POST", f"/v1/checkouts/client/{checkout['client_secret']}/confirm", json=body)

    def get(self, checkout: dict[str, Any]) -> dict[str, Any]:
        return self.call("GET", f"/v1/checkouts/client/{checkout['client_secret']}").json()

    def settled(self, checkout: dict[str, Any]) -> dict[str, Any]:
        """The checkout once the job worker moved it out of ``confirmed``."""
        return eventually(lambda: (c := self.get(checkout))["status"] in ("succeeded", "failed") and c, "settlement")

    def orders(self, **query: Any) -> list[dict[str, Any]]:
        response = self.call("GET", "/v1/orders/", params=query)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def stock(self, product: dict[str, Any]) -> int:
        return self.call("GET", f"/v1/products/{product['id']}").json()["stock"]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: str
    answered: int

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class WebhookReceiver:
    """An HTTP server in a thread that records every webhook; ``fail_first``: 500 to each id's first attempt."""

    def __init__(self, fail_first: bool = False) -> None:
        self.fail_first = fail_first
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                headers = {name.lower(): value for name, value in self.headers.items()}
                with receiver._lock:
                    seen = any(r.headers.get("webhook-id") == headers.get("webhook-id") for r in receiver.received)
                    answered = 500 if receiver.fail_first and not seen else 200
                    receiver.received.append(Received(self.path, headers, body, answered))
                self.send_response(answered)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler

    def url(self, path: str = "/hooks") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def delivered(self, path: str = "/hooks") -> list[Received]:
        """Requests answered 2xx on ``path``, one per webhook id (the first delivered)."""
        with self._lock:
            ok = [r for r in self.received if r.path == path and r.answered == 200]
        return list({r.webhook_id: r for r in reversed(ok)}.values())

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def order_paid_ids(receiver: WebhookReceiver) -> dict[str, set[str]]:
    """Delivered ``order.paid`` webhook ids per checkout id."""
    ids: dict[str, set[str]] = {}
    for request in receiver.delivered():
        if request.event["type"] == "order.paid":
            ids.setdefault(request.event["data"]["checkout_id"], set()).add(request.webhook_id)
    return ids
