"""The checkout API's outbound webhooks from a real demo shop process: Standard Webhooks signatures, retries
under the same webhook id, deleted endpoints, and the faults of its background work (drop, dup, slow, stale)."""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from checkout_api_client import (
    QUIET_S,
    STORES,
    STRIPE_SECRET,
    TOKEN,
    CheckoutClient,
    WebhookReceiver,
    eventually,
    order_paid_ids,
)
from standardwebhooks.webhooks import Webhook


@pytest.fixture(params=STORES)
def api(request: pytest.FixtureRequest, demo_shop) -> CheckoutClient:
    return CheckoutClient(demo_shop(request.param, api_token=TOKEN, stripe_secret=STRIPE_SECRET).url)


# --- outbound webhooks -------------------------------------------------------------------------------------


def test_webhooks_are_signed_retried_under_the_same_id_and_stop_when_deleted(api: CheckoutClient) -> None:
    with WebhookReceiver(fail_first=True) as receiver:
        endpoint = api.create(
            "/v1/webhooks/endpoints",
            {"url": receiver.url(), "events": ["checkout.updated", "order.created", "order.paid"]},
        )
        assert endpoint["secret"].startswith("whsec_")
        removed = api.create(
            "/v1/webhooks/endpoints",
            {"url": receiver.url("/removed"), "events": ["order.paid"], "secret": "whsec_" + "c2VjcmV0" * 4},
        )
        assert api.call("DELETE", f"/v1/webhooks/endpoints/{removed['id']}").status_code == 204
        assert api.call("DELETE", f"/v1/webhooks/endpoints/{removed['id']}").status_code == 404
        product = api.product(stock=2)
        checkouts = [api.checkout(product) for _ in range(3)]
        for checkout in checkouts:
            assert api.confirm(checkout).status_code == 200
        settled = {checkout["id"]: api.settled(checkout) for checkout in checkouts}

        # 2 succeeded checkouts: checkout.updated, order.created, order.paid each; the failed one: checkout.updated.
        delivered = eventually(lambda: len(receiver.delivered()) == 7 and receiver.delivered(), "7 deliveries")
        time.sleep(QUIET_S)

    webhook = Webhook(base64.b64encode(endpoint["secret"].encode()).decode())  # Polar's key: the secret's bytes
    for request in receiver.received:
        assert request.path == "/hooks"
        assert request.headers["content-type"] == "application/json"
        assert webhook.verify(request.body, request.headers) == request.event
        assert int(request.headers["webhook-timestamp"]) == pytest.approx(time.time(), abs=60)
    attempts = Counter(request.webhook_id for request in receiver.received)
    assert attempts == {request.webhook_id: 2 for request in delivered}, "each id: a 500, then the same id again"
    succeeded = {c_id for c_id, checkout in settled.items() if checkout["status"] == "succeeded"}
    assert len(succeeded) == 2
    assert {c_id: len(ids) for c_id, ids in order_paid_ids(receiver).items()} == dict.fromkeys(succeeded, 1)
    updates = {r.event["data"]["id"]: r.event["data"] for r in delivered if r.event["type"] == "checkout.updated"}
    assert {c_id: update["status"] for c_id, update in updates.items()} == {
        c_id: c["status"] for c_id, c in settled.items()
    }
    paid = [r.event["data"] for r in delivered if r.event["type"] == "order.paid"]
    assert sorted(order["id"] for order in paid) == sorted(settled[c_id]["order_id"] for c_id in succeeded)


# --- faults ------------------------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def _settle_with_webhooks(demo_shop, fault: str, receiver: WebhookReceiver, count: int) -> list[dict[str, Any]]:
    """``count`` checkouts settled by a shop with ``fault``, its webhooks going to ``receiver``."""
    api = CheckoutClient(demo_shop("sqlite", faults=[fault], api_token=TOKEN).url)
    api.create("/v1/webhooks/endpoints", {"url": receiver.url(), "events": ["order.created", "order.paid"]})
    product = api.product(stock=count)
    checkouts = [api.checkout(product) for _ in range(count)]
    for checkout in checkouts:
        assert api.confirm(checkout).status_code == 200
    settled = [api.settled(checkout) for checkout in checkouts]

    def all_orders_created() -> bool:
        return sum(r.event["type"] == "order.created" for r in receiver.delivered()) == count

    eventually(all_orders_created, f"{count} order.created webhooks")
    time.sleep(QUIET_S)
    return settled


def test_webhook_drop_never_delivers_one_order_paid_in_five(demo_shop, receiver: WebhookReceiver) -> None:
    settled = _settle_with_webhooks(demo_shop, "webhook-drop", receiver, count=6)

    assert [checkout["status"] for checkout in settled] == ["succeeded"] * 6
    paid = order_paid_ids(receiver)
    assert len(paid) == 4 and all(len(ids) == 1 for ids in paid.values())
    assert settled[0]["id"] not in paid and settled[5]["id"] not in paid  # the 1st and 6th order.paid


def test_webhook_dup_delivers_every_order_paid_twice_under_two_ids(demo_shop, receiver: WebhookReceiver) -> None:
    settled = _settle_with_webhooks(demo_shop, "webhook-dup", receiver, count=2)

    paid = order_paid_ids(receiver)
    assert {checkout_id: len(ids) for checkout_id, ids in paid.items()} == {checkout["id"]: 2 for checkout in settled}


def test_slow_worker_delays_settlement_by_two_seconds(demo_shop) -> None:
    api = CheckoutClient(demo_shop("sqlite", faults=["slow-worker"], api_token=TOKEN).url)
    checkout = api.checkout(api.product())

    began = time.monotonic()
    assert api.confirm(checkout).status_code == 200
    settled = api.settled(checkout)

    assert settled["status"] == "succeeded"
    assert time.monotonic() - began >= 2.0


def test_stale_status_leaves_a_paid_checkout_confirmed(demo_shop, receiver: WebhookReceiver) -> None:
    api = CheckoutClient(demo_shop("sqlite", faults=["stale-status"], api_token=TOKEN).url)
    api.create("/v1/webhooks/endpoints", {"url": receiver.url(), "events": ["order.paid"]})
    product = api.product(stock=5)
    checkout = api.checkout(product)

    assert api.confirm(checkout).status_code == 200
    [order] = eventually(lambda: api.orders(checkout_id=checkout["id"]), "the order")
    eventually(lambda: order_paid_ids(receiver), "the order.paid webhook")

    assert order["status"] == "paid"
    assert (api.get(checkout)["status"], api.get(checkout)["order_id"]) == ("confirmed", None)
    assert api.stock(product) == 4
