"""The webhook receiver as a shop meets it: real HTTP posts from another OS thread (the receiver serves on this
process's gevent hub, which runs while the test waits), each recorded with what could be read of it."""

from __future__ import annotations

import errno
import json
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import gevent
import pytest
from standardwebhooks.webhooks import Webhook

from shopstorm.errors import UsageError
from shopstorm.targets.signing import new_webhook_secret
from shopstorm.targets.webhook_receiver import WebhookReceiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def event(event_type: str, data: object) -> bytes:
    return json.dumps({"type": event_type, "timestamp": "2025-01-01T00:00:00Z", "data": data}).encode()


def signed(body: bytes, webhook_id: str, secret: str = SECRET) -> dict[str, str]:
    """Headers as the shop sends them, signed by the Standard Webhooks library itself."""
    now = int(time.time())
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(now, UTC), body.decode())
    return {"webhook-id": webhook_id, "webhook-timestamp": str(now), "webhook-signature": signature}


def post(url: str, body: bytes, headers: dict[str, str], method: str = "POST") -> tuple[int, bytes]:
    """Send one request from a real OS thread, as the shop's process would, while this greenlet yields to the hub."""

    def send() -> tuple[int, bytes]:
        request = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read()

    return gevent.get_hub().threadpool.spawn(send).get(timeout=10)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(SECRET)
    receiver.start()
    yield receiver
    receiver.stop()


def test_deliveries_are_verified_recorded_and_answered(receiver, capfd):
    checkout = event("checkout.updated", {"id": "chk_1", "status": "succeeded", "order_id": "ord_1"})
    order = event("order.paid", {"id": "ord_1", "checkout_id": "chk_1", "status": "paid", "amount": 1000})

    assert post(receiver.url, checkout, signed(checkout, "msg_checkout")) == (204, b"")
    assert post(receiver.url, order, signed(order, "msg_order")) == (204, b"")
    # The shop retries a delivery it thinks was lost: acknowledged again, marked as a replay.
    assert post(receiver.url, order, signed(order, "msg_order")) == (204, b"")
    forged = signed(order, "msg_forged", secret=new_webhook_secret())
    assert post(receiver.url, order, forged) == (400, b"no matching signature")
    assert post(receiver.url, b"\xff{not json", {"Content-Type": "application/json"}) == (400, b"missing headers")
    not_json = b"<html>oops</html>"
    assert post(receiver.url, not_json, signed(not_json, "msg_html")) == (204, b"")

    checkout_row, order_row, replay, forgery, garbage, html = receiver.deliveries
    assert checkout_row[:5] == ("msg_checkout", "checkout.updated", "chk_1", "ord_1", "succeeded")
    assert (checkout_row.signature_error, checkout_row.duplicate) == (None, False)
    assert order_row[:5] == ("msg_order", "order.paid", "chk_1", "ord_1", "paid")
    assert (order_row.signature_error, order_row.duplicate) == (None, False)
    assert replay[:5] == order_row[:5] and (replay.signature_error, replay.duplicate) == (None, True)
    assert forgery[:5] == ("msg_forged", "order.paid", "chk_1", "ord_1", "paid")  # read, but not trusted
    assert (forgery.signature_error, forgery.duplicate) == ("no matching signature", False)
    assert garbage[:5] == ("", "", None, None, None) and garbage.signature_error == "missing headers"
    assert html[:5] == ("msg_html", "", None, None, None) and html.valid
    times = [delivery.received_at for delivery in receiver.deliveries]
    assert times == sorted(times) and time.time() - 60 < times[0]

    assert receiver.counts() == {
        "received": 6,
        "valid": 4,
        "invalid": 2,
        "duplicates": 1,
        "by_type": {"checkout.updated": 1, "order.paid": 1, "": 1},
    }
    assert capfd.readouterr() == ("", "")  # nothing printed per request


def test_a_forged_replay_of_a_known_id_is_invalid_not_a_duplicate(receiver):
    body = event("order.created", {"id": "ord_2", "checkout_id": "chk_2"})
    assert post(receiver.url, body, signed(body, "msg_2"))[0] == 204
    assert post(receiver.url, body, signed(body, "msg_2", secret=new_webhook_secret()))[0] == 400
    first, forged = receiver.deliveries
    assert first[:5] == ("msg_2", "order.created", "chk_2", "ord_2", None)
    assert (forged.valid, forged.duplicate) == (False, False)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[1, 2]",
        b'"just a string"',
        b"[" * 100_000,
        b'{"type": 42, "data": {"id": "x"}}',
        b'{"type": "order.paid"}',
        b'{"type": "order.paid", "data": [1]}',
        b'{"type": "order.paid", "data": {"id": {"nested": 1}, "checkout_id": 7, "status": true}}',
        b'{"type": "refund.created", "data": {"id": "re_1"}}',
    ],
)
def test_a_body_with_nothing_readable_is_still_recorded_and_acknowledged(receiver, body):
    assert post(receiver.url, body, signed(body, "msg_odd"))[0] == 204
    (delivery,) = receiver.deliveries
    assert delivery.valid and delivery.webhook_id == "msg_odd"
    assert delivery.order_id is None and delivery.status is None
    assert delivery.checkout_id in (None, "7")  # an integer id reads as its text


def test_only_posts_to_the_webhook_path_are_deliveries(receiver):
    body = event("order.paid", {"id": "ord_1", "checkout_id": "chk_1"})
    elsewhere = receiver.url.removesuffix("/webhooks") + "/other"
    assert post(elsewhere, body, signed(body, "msg_1"))[0] == 404
    assert post(receiver.url, b"", {}, method="GET")[0] == 405
    assert receiver.deliveries == [] and receiver.counts()["received"] == 0


def test_a_secret_made_by_the_shop_can_replace_the_first_one_before_start():
    receiver = WebhookReceiver(new_webhook_secret())
    shop_secret = new_webhook_secret()
    receiver.secret = shop_secret
    receiver.start()
    try:
        body = event("checkout.updated", {"id": "chk_1", "status": "open"})
        assert post(receiver.url, body, signed(body, "msg_1", secret=shop_secret))[0] == 204
        assert post(receiver.url, body, signed(body, "msg_2"))[0] == 400
    finally:
        receiver.stop()


def test_a_malformed_secret_fails_at_start_with_one_line():
    receiver = WebhookReceiver("whsec_a")
    with pytest.raises(UsageError, match="whsec_ followed by base64"):
        receiver.start()
    with pytest.raises(RuntimeError, match="not started"):
        receiver.url  # noqa: B018


def test_the_receiver_listens_on_loopback_only_and_stop_frees_its_port():
    receiver = WebhookReceiver(SECRET)
    url = receiver.start()
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.path) == ("http", "127.0.0.1", "/webhooks")
    port = parts.port
    assert receiver.start() == url  # already listening: same place
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    if sys.platform == "linux":  # all of 127/8 is loopback there: a wildcard bind would answer on 127.0.0.2 too
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", port), timeout=2).close()

    receiver.stop()
    receiver.stop()  # stopping twice is harmless
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as any server would, past TIME_WAIT
        try:
            listener.bind(("127.0.0.1", port))
        except OSError as error:
            pytest.fail(f"port {port} still taken after stop(): {errno.errorcode.get(error.errno, error)}")
        listener.listen()
