"""The loopback endpoint that takes a shop's outbound webhooks during a run and keeps them as evidence.

A :class:`WebhookReceiver` listens on a free port of 127.0.0.1, inside the Locust master or local process, on
gevent's own WSGI server: each delivery is handled in a greenlet of the process's hub, so it needs no thread and
no lock. Any local process can post to that port, so a POST counts as the shop's only when it carries a valid
Standard Webhooks signature made with the run's secret, which only the shop was given; every other POST is
recorded as a *rejected* delivery with its reason and answered 400, never held against the shop. A body over
``max_body`` bytes is refused with 413 as soon as its declared length or the bytes read so far pass the cap, and
its connection is closed unread. A valid delivery, replays included (a receiver acknowledges a replay), is
answered 204. Nothing is printed per request.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Collection
from typing import IO, Any

from gevent.pywsgi import Input, WSGIHandler, WSGIServer

from shopstorm.audit.deliveries import Delivery
from shopstorm.errors import UsageError
from shopstorm.targets.signing import verify_standard_webhook

PATH = "/webhooks"
MAX_BODY = 1_000_000  # bytes of a delivery read at most, unless the run's --max-body says otherwise
STOP_TIMEOUT = 1.0  # seconds a delivery still in flight gets to finish when the receiver stops
TOO_LARGE = "too large"
_CHUNK = 64 * 1024  # bytes read at a time, so a body over the cap is never held whole
# Standard Webhooks headers, by their name in a WSGI environ.
_HEADERS = (("webhook-id", "HTTP_WEBHOOK_ID"), ("webhook-timestamp", "HTTP_WEBHOOK_TIMESTAMP"),
            ("webhook-signature", "HTTP_WEBHOOK_SIGNATURE"))  # fmt: skip


class WebhookReceiver:
    """Listens for a shop's webhooks on ``host`` (loopback) while a run lasts.

    ``secret`` is the endpoint's ``whsec_`` secret (:meth:`use_secret` when the shop makes one).
    ``secret_format`` is how it keys the signature: ``polar`` or ``standard`` (:mod:`shopstorm.targets.signing`).
    ``max_body`` is the largest body read, in bytes.
    """

    def __init__(
        self, secret: str, host: str = "127.0.0.1", max_body: int = MAX_BODY, secret_format: str = "standard"
    ) -> None:
        self.secret = secret
        self.secret_format = secret_format
        self.host = host
        self.max_body = max_body
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
        self.use_secret(self.secret)
        server = WSGIServer((self.host, port), self._application, log=None, error_log=None,
                            handler_class=_RefusingHandler)  # fmt: skip
        try:
            server.start()
        except OSError as error:
            raise UsageError(f"the webhook receiver cannot listen on {self.host}:{port}: {error.strerror}") from None
        self._server = server
        return self.url

    def use_secret(self, secret: str) -> None:
        """Verify deliveries with ``secret`` from now on; one this format cannot key is a usage error (exit code 2),
        found here rather than on every delivery."""
        try:
            verify_standard_webhook(secret, b"", {}, secret_format=self.secret_format)
        except ValueError as error:
            raise UsageError(str(error)) from None
        self.secret = secret

    def stop(self) -> None:
        """Stop listening and free the port; the deliveries stay readable."""
        if self._server is not None:
            self._server.stop(timeout=STOP_TIMEOUT)
            self._server = None

    def counts(self, checkouts: Collection[str] | None = None) -> dict[str, Any]:
        """How many deliveries came: ``received`` = ``valid`` + ``rejected``, the rejected ones per reason
        (:meth:`Delivery.rejected_for`; given the run's ``checkouts``, a signed delivery about none of them is
        rejected too); ``by_type`` counts the valid ones that were not ``duplicates``, i.e. the events the shop
        told of, per event type."""
        reasons = [delivery.rejected_for(checkouts) for delivery in self.deliveries]
        valid = [delivery for delivery, reason in zip(self.deliveries, reasons, strict=True) if reason is None]
        rejected = Counter(reason for reason in reasons if reason is not None)
        return {
            "received": len(self.deliveries),
            "valid": len(valid),
            "rejected": sum(rejected.values()),
            "rejected_by_reason": dict(rejected.most_common()),
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
        headers = {name: environ[key] for name, key in _HEADERS if key in environ}
        declared = environ.get("CONTENT_LENGTH")
        too_large = bool(declared) and declared.isdigit() and int(declared) > self.max_body
        body = None if too_large else _read_at_most(environ["wsgi.input"], self.max_body)
        if body is None:
            self.deliveries.append(Delivery(headers.get("webhook-id", ""), "", None, None, None, time.time(),
                                            TOO_LARGE, False))  # fmt: skip
            reason = f"body over {self.max_body} bytes".encode()
            start_response("413 Content Too Large", [("Content-Type", "text/plain"), ("Connection", "close"),
                                                     ("Content-Length", str(len(reason)))])  # fmt: skip
            return [reason]
        delivery = self._record(body, headers)
        if delivery.valid:
            start_response("204 No Content", [])
            return []
        reason = str(delivery.rejection).encode()
        start_response("400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", str(len(reason)))])
        return [reason]

    def _record(self, body: bytes, headers: dict[str, str]) -> Delivery:
        received_at = time.time()
        error = verify_standard_webhook(self.secret, body, headers, secret_format=self.secret_format)
        webhook_id = headers.get("webhook-id", "")
        duplicate = error is None and webhook_id in self._acknowledged
        if error is None:
            self._acknowledged.add(webhook_id)
        event_type, checkout_id, order_id, status = _read_event(body)
        digest = hashlib.sha256(body).hexdigest()[:16]
        delivery = Delivery(webhook_id, event_type, checkout_id, order_id, status, received_at, error, duplicate,
                            digest)  # fmt: skip
        self.deliveries.append(delivery)
        return delivery


class _RefusingHandler(WSGIHandler):
    """gevent's request handler, except that a body refused as too large is left unread: after the 413 the
    connection closes, where gevent would otherwise read and discard the rest, however long it is."""

    def run_application(self) -> None:
        super().run_application()
        if self.code == 413:
            self.wsgi_input = Input(self.rfile, 0)  # nothing left to discard
            self.close_connection = True


def _read_at_most(stream: IO[bytes], limit: int) -> bytes | None:
    """The whole body, read in bounded chunks; ``None`` as soon as it passes ``limit`` bytes (declared or not:
    a chunked body has no length to check first)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


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
