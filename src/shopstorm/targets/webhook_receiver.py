"""The loopback endpoint that takes a shop's outbound webhooks during a run and keeps them as evidence.

A :class:`WebhookReceiver` listens on a free port of 127.0.0.1, inside the Locust master or local process, on
gevent's own WSGI server: each delivery is handled in a greenlet of the process's hub, so it needs no thread and
no lock. Every POST is verified (Standard Webhooks signature) and recorded as a :class:`Delivery`, in arrival
order, readable or not; the shop is answered 204 for a valid signature, replays included — a receiver
acknowledges a replay — and 400 for anything else. Nothing is printed per request.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any, NamedTuple

from gevent.pywsgi import WSGIServer

from shopstorm.errors import UsageError
from shopstorm.targets.signing import verify_standard_webhook

PATH = "/webhooks"
STOP_TIMEOUT = 1.0  # seconds a delivery still in flight gets to finish when the receiver stops
# Standard Webhooks headers, by their name in a WSGI environ.
_HEADERS = (("webhook-id", "HTTP_WEBHOOK_ID"), ("webhook-timestamp", "HTTP_WEBHOOK_TIMESTAMP"),
            ("webhook-signature", "HTTP_WEBHOOK_SIGNATURE"))  # fmt: skip


class Delivery(NamedTuple):
    """One POST the shop made, with what could be read of it.

    ``event_type`` is ``""`` and the ids ``None`` when the body says nothing readable. ``duplicate`` is true for
    a valid delivery whose ``webhook_id`` was already received with a valid signature.
    """

    webhook_id: str
    event_type: str
    checkout_id: str | None
    order_id: str | None
    status: str | None
    received_at: float
    signature_error: str | None
    duplicate: bool

    @property
    def valid(self) -> bool:
        return self.signature_error is None


class WebhookReceiver:
    """Listens for a shop's webhooks on ``host`` (loopback) while a run lasts.

    ``secret`` is the endpoint's ``whsec_`` secret; set it again before :meth:`start` when the shop makes one.
    """

    def __init__(self, secret: str, host: str = "127.0.0.1") -> None:
        self.secret = secret
        self.host = host
        self.deliveries: list[Delivery] = []
        self._acknowledged: set[str] = set()  # webhook ids received with a valid signature
        self._server: WSGIServer | None = None

    @property
    def url(self) -> str:
        """Where the shop should send its webhooks (the receiver must be started)."""
        if self._server is None:
            raise RuntimeError("the webhook receiver is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.server_port}{PATH}"

    def start(self, port: int = 0) -> str:
        """Listen on ``port`` (0: a free one) and serve in the background; return the URL to give the shop.
        A port that cannot be bound is a usage error (exit code 2)."""
        if self._server is not None:
            return self.url
        try:
            verify_standard_webhook(self.secret, b"", {})  # a bad secret fails here, not on every delivery
        except ValueError as error:
            raise UsageError(str(error)) from None
        server = WSGIServer((self.host, port), self._application, log=None, error_log=None)
        try:
            server.start()
        except OSError as error:
            raise UsageError(f"the webhook receiver cannot listen on {self.host}:{port}: {error.strerror}") from None
        self._server = server
        return self.url

    def stop(self) -> None:
        """Stop listening and free the port; the deliveries stay readable."""
        if self._server is not None:
            self._server.stop(timeout=STOP_TIMEOUT)
            self._server = None

    def counts(self) -> dict[str, Any]:
        """How many deliveries came: ``received`` = ``valid`` + ``invalid``; ``by_type`` counts the valid ones
        that were not ``duplicates``, i.e. the events the shop told of, per event type."""
        valid = [delivery for delivery in self.deliveries if delivery.valid]
        return {
            "received": len(self.deliveries),
            "valid": len(valid),
            "invalid": len(self.deliveries) - len(valid),
            "duplicates": sum(delivery.duplicate for delivery in valid),
            "by_type": dict(Counter(delivery.event_type for delivery in valid if not delivery.duplicate)),
        }

    def _application(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO") != PATH:
            start_response("404 Not Found", [("Content-Length", "0")])
            return []
        if environ.get("REQUEST_METHOD") != "POST":
            start_response("405 Method Not Allowed", [("Allow", "POST"), ("Content-Length", "0")])
            return []
        body = environ["wsgi.input"].read()
        headers = {name: environ[key] for name, key in _HEADERS if key in environ}
        delivery = self._record(body, headers)
        if delivery.valid:
            start_response("204 No Content", [])
            return []
        reason = str(delivery.signature_error).encode()
        start_response("400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", str(len(reason)))])
        return [reason]

    def _record(self, body: bytes, headers: dict[str, str]) -> Delivery:
        received_at = time.time()
        error = verify_standard_webhook(self.secret, body, headers)
        webhook_id = headers.get("webhook-id", "")
        duplicate = error is None and webhook_id in self._acknowledged
        if error is None:
            self._acknowledged.add(webhook_id)
        event_type, checkout_id, order_id, status = _read_event(body)
        delivery = Delivery(webhook_id, event_type, checkout_id, order_id, status, received_at, error, duplicate)
        self.deliveries.append(delivery)
        return delivery


def _read_event(body: bytes) -> tuple[str, str | None, str | None, str | None]:
    """``(event_type, checkout_id, order_id, status)`` from a body ``{"type", "timestamp", "data"}``.

    ``data`` is the object the type is named after (Polar's scheme): a checkout for ``checkout.*`` (its
    ``order_id`` once paid), an order for ``order.*`` (with its ``checkout_id``).
    """
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond reason
        return "", None, None, None
    if not isinstance(event, dict):
        return "", None, None, None
    event_type = event.get("type") if isinstance(event.get("type"), str) else ""
    data = event.get("data")
    if not isinstance(data, dict):
        return event_type, None, None, None
    if event_type.startswith("checkout."):
        return event_type, _text(data.get("id")), _text(data.get("order_id")), _text(data.get("status"))
    if event_type.startswith("order."):
        return event_type, _text(data.get("checkout_id")), _text(data.get("id")), _text(data.get("status"))
    return event_type, None, None, None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
