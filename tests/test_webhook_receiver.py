"""The webhook receiver as a shop meets it, and as any other local process can: real HTTP posts from another OS
thread (the receiver serves on this process's gevent hub, which runs while the test waits), each recorded with what
could be read of it; posts the shop did not sign, or about checkouts the run did not make, rejected apart; bodies over
the cap refused with 413 before they are read whole; junk posted during a real run never blamed on the shop."""

from __future__ import annotations

import base64
import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import gevent
import psutil
import pytest
from standardwebhooks.webhooks import Webhook

from shopstorm.errors import UsageError
from shopstorm.targets.signing import new_webhook_secret
from shopstorm.targets.webhook_receiver import WebhookReceiver
from support import cli_env, read_summary, shopstorm_command

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
    assert (checkout_row.rejection, checkout_row.duplicate) == (None, False)
    assert order_row[:5] == ("msg_order", "order.paid", "chk_1", "ord_1", "paid")
    assert (order_row.rejection, order_row.duplicate) == (None, False)
    assert replay[:5] == order_row[:5] and (replay.rejection, replay.duplicate) == (None, True)
    assert forgery[:5] == ("msg_forged", "order.paid", "chk_1", "ord_1", "paid")  # read, but not trusted
    assert (forgery.rejection, forgery.duplicate) == ("no matching signature", False)
    assert garbage[:5] == ("", "", None, None, None) and garbage.rejection == "missing headers"
    assert html[:5] == ("msg_html", "", None, None, None) and html.valid
    times = [delivery.received_at for delivery in receiver.deliveries]
    assert times == sorted(times) and time.time() - 60 < times[0]

    assert receiver.counts() == {
        "received": 6,
        "valid": 4,
        "rejected": 2,
        "rejected_by_reason": {"no matching signature": 1, "missing headers": 1},
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


def test_a_valid_looking_but_wrong_signature_is_a_rejected_delivery(receiver):
    body = event("order.paid", {"id": "ord_1", "checkout_id": "chk_1", "status": "paid"})
    headers = signed(body, "msg_1")
    headers["webhook-signature"] = "v1," + base64.b64encode(os.urandom(32)).decode()
    assert post(receiver.url, body, headers) == (400, b"no matching signature")
    counts = receiver.counts({"chk_1"})
    assert (counts["valid"], counts["rejected"], counts["by_type"]) == (0, 1, {})
    assert counts["rejected_by_reason"] == {"no matching signature": 1}


def test_a_signed_event_about_a_checkout_the_run_did_not_make_is_rejected_apart(receiver):
    ours = event("order.paid", {"id": "ord_1", "checkout_id": "chk_ours", "status": "paid"})
    theirs = event("order.paid", {"id": "ord_2", "checkout_id": "chk_theirs", "status": "paid"})
    unreadable = b"<html>oops</html>"
    for body, webhook_id in ((ours, "msg_1"), (theirs, "msg_2"), (unreadable, "msg_3")):
        assert post(receiver.url, body, signed(body, webhook_id)) == (204, b"")  # the shop signed them all
    assert receiver.counts({"chk_ours"}) == {
        "received": 3,
        "valid": 1,
        "rejected": 2,
        "rejected_by_reason": {"not a checkout of this run": 2},
        "duplicates": 0,
        "by_type": {"order.paid": 1},
    }
    assert receiver.counts()["valid"] == 3  # without the run's checkouts, every signed delivery counts


def stream(url: str, head: bytes, body: Iterable[bytes]) -> bytes:
    """Send a request head, then the body's pieces, over a raw socket from a real OS thread, until the receiver
    closes the connection; return what it answered."""
    parts = urlsplit(url)

    def send() -> bytes:
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.sendall(b"POST /webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\n" + head + b"\r\n")
            try:
                for piece in body:
                    sock.sendall(piece)
            except OSError:  # the receiver closed the connection: it reads no further
                pass
            answer = b""
            try:
                while data := sock.recv(65536):
                    answer += data
            except OSError:
                pass
            return answer

    return gevent.get_hub().threadpool.spawn(send).get(timeout=60)


MEGABYTE = b"x" * 1_000_000


class PeakMemory:
    """The largest resident size of this (the receiving) process while the block runs, sampled every 5 ms from an
    OS thread: a body read whole and freed at once leaves no trace in the size after."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.before = self.peak = self.process.memory_info().rss
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakMemory:
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._sampler.join()


def declared(megabytes: int) -> bytes:
    return f"Content-Length: {megabytes * 1_000_000}\r\n".encode()


def chunked(megabytes: int) -> Iterator[bytes]:
    for _ in range(megabytes):
        yield b"%x\r\n" % len(MEGABYTE) + MEGABYTE + b"\r\n"
    yield b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("head", "body"),
    [
        pytest.param(declared(300), [MEGABYTE], id="declared-300MB-only-1MB-sent"),
        pytest.param(declared(300), [MEGABYTE] * 300, id="declared-300MB-all-sent"),
        pytest.param(b"Transfer-Encoding: chunked\r\n", chunked(2), id="chunked-2MB"),
        pytest.param(b"Transfer-Encoding: chunked\r\n", chunked(300), id="chunked-300MB"),
    ],
)
def test_a_body_over_the_cap_is_refused_with_413_before_it_is_read_whole(receiver, head, body):
    with PeakMemory() as memory:
        answer = stream(receiver.url, head, body)
    grown = memory.peak - memory.before
    assert grown < 50_000_000, f"the receiving process grew by {grown / 1e6:.0f} MB"
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    (delivery,) = receiver.deliveries
    assert (delivery.valid, delivery.rejection) == (False, "too large")
    assert receiver.counts()["rejected_by_reason"] == {"too large": 1}


def test_the_cap_is_the_runs_max_body():
    receiver = WebhookReceiver(SECRET, max_body=100)
    receiver.start()
    try:
        fits = b'{"type": "checkout.updated", "data": {"id": "chk_1", "status": "open"}}'.ljust(100)
        assert post(receiver.url, fits, signed(fits, "msg_1"))[0] == 204
        assert post(receiver.url, fits + b" ", signed(fits + b" ", "msg_2")) == (413, b"body over 100 bytes")
    finally:
        receiver.stop()
    assert [delivery.rejection for delivery in receiver.deliveries] == [None, "too large"]


TOKEN = "polar_pat_shopstorm_test_token"


def test_junk_posted_by_another_process_during_a_run_is_rejected_and_the_audit_passes(demo_shop, tmp_path, free_port):
    """Five unsigned posts, one with a made-up signature and one over --max-body reach the receiver while a real
    run confirms checkouts: seven rejected deliveries, shown as a warning, and the correct shop still passes."""
    shop = demo_shop("sqlite", api_token=TOKEN)
    out = tmp_path / "out"
    command = shopstorm_command("run", "checkout-api", "--host", shop.url, "-u", "4", "-r", "4", "-t", "4s",
                                "--audit", "--webhook-port", str(free_port), "--max-body", "500000",
                                "--out", str(out))  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=cli_env({"LOAD_TEST_API_TOKEN": TOKEN}))  # fmt: skip
    url = f"http://127.0.0.1:{free_port}/webhooks"
    try:
        started = time.monotonic()
        while "load started" not in process.stdout.readline():
            assert time.monotonic() - started < 60 and process.poll() is None, "the load never started"
        junk = event("order.paid", {"id": "ord_x", "checkout_id": "chk_x", "status": "paid"})
        answers = [post(url, junk, {"Content-Type": "application/json"}) for _ in range(5)]
        forged = signed(junk, "msg_forged", secret=new_webhook_secret())
        answers.append(post(url, junk, forged))
        oversized = stream(url, b"Content-Length: 600000\r\n", [b"x" * 600_000])
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, stdout[-3000:] + stderr[-2000:]
    assert [status for status, _ in answers] == [400] * 6
    assert oversized.startswith(b"HTTP/1.1 413 "), oversized[:200]
    summary = read_summary(out)
    assert summary["audit"]["verdict"] == "pass"
    assert summary["audit"]["checkouts"]["succeeded"] > 0
    checked = {row["invariant"]: row["checked"] for row in summary["audit"]["invariants"]}
    assert checked["one_event_per_webhook_id"] > 0 and "signatures_valid" not in checked
    webhooks = summary["webhooks"]
    assert webhooks["rejected"] == 7
    assert webhooks["rejected_by_reason"] == {"missing headers": 5, "no matching signature": 1, "too large": 1}
    assert webhooks["by_type"]["order.paid"] == summary["audit"]["checkouts"]["succeeded"]
    assert webhooks["received"] == webhooks["valid"] + 7
    assert "deliveries: " in stdout and ", 7 rejected, " in stdout
    warning = next(line for line in stdout.splitlines() if line.startswith("WARNING:"))
    assert warning.startswith(
        "WARNING: 7 rejected webhook deliveries (5 missing headers, 1 no matching signature, 1 too large)"
    )
