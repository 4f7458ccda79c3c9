"""The ``checkout-api`` target: a payment platform's checkout API (Polar style), with background settlement and
signed webhooks both ways.

Shoppers create client checkouts, fill in the customer, read them and confirm them with the platform's bearer
token; a confirmed checkout is settled later by the platform's background jobs. The ``settle`` step polls it until
it succeeds, with bounded backoff, and its time from the confirm is the ``settlement`` journey. The
``inbound_payment`` journey plays the payment provider: it posts a Stripe-signed ``payment_intent.succeeded``
event for a checkout confirmed with ``payment_processor: "stripe"``.

During the run shopstorm receives the platform's outbound webhooks on a loopback port (in the master or local
process: one receiver per run, whatever the number of load processes), registered through
``POST /v1/webhooks/endpoints`` at the seed and removed at the end. A delivery counts only when its Standard Webhooks
signature is valid and it is about a checkout of this run; any other POST is a rejected delivery, counted apart and
never held against the shop (:mod:`shopstorm.targets.webhook_receiver`). Delivery latency (confirm → event
arrival, per event type) goes into summary.json's ``webhooks``.
With ``--audit``, the audit waits up to ``--settle-timeout`` for confirmed checkouts to settle and their webhooks to
arrive, then checks them (:mod:`shopstorm.audit.settlement`).

See docs/targets/checkout-api.md, also for pointing it at a real deployment.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import gevent

from shopstorm.audit.invariants import AuditResult
from shopstorm.audit.ledger import LEDGER, Entry
from shopstorm.audit.settlement import (
    PAID_EVENT,
    SETTLED,
    CheckoutState,
    PaymentsState,
    check_settlement,
    confirm_times,
)
from shopstorm.errors import TargetUnreachable, UsageError
from shopstorm.metrics.histograms import HIGHEST_US, LOWEST_US, new_histogram, summarize
from shopstorm.replies import JourneyFailed, Reply
from shopstorm.settings import Settings
from shopstorm.targets.admin_http import AdminSession, whole_number
from shopstorm.targets.base import Target, call, read_until_steady
from shopstorm.targets.signing import new_webhook_secret, sign_stripe_event
from shopstorm.targets.webhook_receiver import Delivery, WebhookReceiver

EVENTS = ("checkout.updated", "order.created", "order.paid")
CHECKOUTS = "/v1/checkouts/client/"
NAMES = {
    "create": "/v1/checkouts/client/",
    "checkout": "/v1/checkouts/client/[client_secret]",
    "confirm": "/v1/checkouts/client/[client_secret]/confirm",
    "provider": "/v1/integrations/stripe/webhook",
}
PROVIDER_PATH = "/v1/integrations/stripe/webhook"
POLL_FIRST_S, POLL_MAX_S = 0.05, 1.0  # the settle step's backoff: doubling from the first wait up to the max
AUDIT_POLL_S = 0.5
QUIET_S = 3.0  # how long an open checkout whose confirm got no answer is watched for that confirm committing late


@dataclass
class Checkout:
    """What a shopper knows of one of its checkouts."""

    id: str
    client_secret: str
    amount: int
    status: str
    payment_intent_id: str | None = None

    @classmethod
    def from_reply(cls, reply: Reply, step: str) -> Checkout:
        body = reply.body if isinstance(reply.body, dict) else {}
        try:
            return cls(str(body["id"]), str(body["client_secret"]), whole_number(body, "amount"),
                       str(body["status"]), body.get("payment_intent_id"))  # fmt: skip
        except (KeyError, ValueError) as error:
            raise JourneyFailed(f"{step}: the checkout in the answer is incomplete ({error})", reply) from None


class CheckoutApiShopper:
    """One shopper's calls to the checkout API, through its Locust session (bearer token set on it).

    Creating a checkout and confirming it go to the ledger (what the shop told the shopper, and when), also when
    the shopper is stopped before the answer.
    """

    def __init__(self, http: Any, target: CheckoutApiTarget) -> None:
        self.http, self.target = http, target

    def create(self, email: str, processor: str = "dummy") -> Checkout:
        body = {"product_id": self.target.product_id, "customer_email": email}
        if processor != "dummy":
            body["payment_processor"] = processor
        reply = call(self.http, "POST", CHECKOUTS, name=NAMES["create"], step="create checkout", json=body)
        checkout = Checkout.from_reply(reply, "create checkout")
        LEDGER.record("created", checkout.id, checkout.client_secret, checkout.amount, "ok", reply.detail)
        return checkout

    def update_customer(self, checkout: Checkout, customer: dict[str, Any]) -> Checkout:
        reply = call(self.http, "PATCH", CHECKOUTS + checkout.client_secret, name=NAMES["checkout"],
                     step="update customer", json=customer)  # fmt: skip
        return Checkout.from_reply(reply, "update customer")

    def get(self, checkout: Checkout, name: str = NAMES["checkout"]) -> Checkout:
        reply = call(self.http, "GET", CHECKOUTS + checkout.client_secret, name=name, step="get checkout")
        return Checkout.from_reply(reply, "get checkout")

    def confirm(self, checkout: Checkout) -> Checkout:
        """Confirm; success means the checkout answers ``confirmed``."""
        reply = LEDGER.recorded("confirm", checkout.id, checkout.client_secret, checkout.amount, lambda: call(
            self.http, "POST", f"{CHECKOUTS}{checkout.client_secret}/confirm", name=NAMES["confirm"], step="confirm",
            json={},
        ))  # fmt: skip
        confirmed = Checkout.from_reply(reply, "confirm")
        if confirmed.status != "confirmed":
            raise JourneyFailed(f"confirm answered status {confirmed.status!r}, expected 'confirmed'", reply)
        return confirmed

    def settle(self, checkout: Checkout) -> Checkout:
        """Poll the checkout until it succeeds, doubling the wait up to 1 s, for at most --settle-timeout."""
        deadline = time.monotonic() + self.target.settings.settle_timeout
        wait = POLL_FIRST_S
        while True:
            current = self.get(checkout, name=NAMES["checkout"] + " (settle)")
            if current.status == "succeeded":
                return current
            if current.status == "failed":
                raise JourneyFailed("settle: the payment failed")
            if time.monotonic() + wait > deadline:
                raise JourneyFailed(f"settle: still {current.status} after {self.target.settings.settle_timeout:g} s")
            gevent.sleep(wait)
            wait = min(wait * 2, POLL_MAX_S)

    def pay_at_provider(self, checkout: Checkout, customer: dict[str, Any]) -> None:
        """Post the provider's signed ``payment_intent.succeeded`` for a checkout confirmed with Stripe."""
        if not checkout.payment_intent_id:
            raise JourneyFailed("confirm gave no payment_intent_id for a stripe checkout")
        event = provider_event(checkout, customer)
        payload = json.dumps(event, separators=(",", ":"))
        secret = str(self.target.settings.provider_secret)
        headers = {"Stripe-Signature": sign_stripe_event(payload, secret), "Content-Type": "application/json"}
        LEDGER.recorded("provider_event", checkout.id, event["id"], checkout.amount, lambda: call(
            self.http, "POST", PROVIDER_PATH, name=NAMES["provider"], step="provider event", data=payload,
            headers=headers,
        ))  # fmt: skip


def provider_event(checkout: Checkout, customer: dict[str, Any]) -> dict[str, Any]:
    """A ``payment_intent.succeeded`` event as Stripe sends it, for this checkout."""
    now = int(time.time())
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": now,
        "livemode": False,
        "pending_webhooks": 1,
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": checkout.payment_intent_id,
                "object": "payment_intent",
                "amount": checkout.amount,
                "amount_received": checkout.amount,
                "currency": "usd",
                "status": "succeeded",
                "created": now,
                "receipt_email": customer.get("customer_email"),
                "payment_method_types": ["card"],
                "metadata": {"checkout_id": checkout.id},
            }
        },
    }


class CheckoutApiTarget(Target):
    name = "checkout-api"
    description = "a payment platform's checkout API (Polar style): bearer token, background settlement, webhooks"
    keeps_ledger = True  # confirm times are needed for delivery latency, audited or not

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        if not settings.host:
            raise UsageError("the checkout-api target needs --host URL (or $LOAD_TEST_HOST)")
        if settings.urls:
            raise UsageError("the checkout-api target takes --host, not --urls")
        if not settings.api_token:
            raise UsageError("the checkout-api target needs an API token: $LOAD_TEST_API_TOKEN or --api-token")
        self.receiver: WebhookReceiver | None = None
        self.endpoint_id: str | None = None

    @property
    def base_url(self) -> str:
        return str(self.settings.host)

    @property
    def product_id(self) -> str:
        return str(self.seed_data["product_id"])

    def check_journeys(self, names: Iterable[str]) -> None:
        if "inbound_payment" in names and not self.settings.provider_secret:
            raise UsageError(
                "the inbound_payment journey signs provider events: give the shop's Stripe webhook secret "
                "with --provider-secret or $SHOPSTORM_PROVIDER_SECRET"
            )

    def _admin(self) -> AdminSession:
        token = {"Authorization": f"Bearer {self.settings.api_token}"}
        return AdminSession(headers=token, max_body=self.settings.max_body)

    def _url(self, path: str) -> str:
        return self.base_url + path

    # --- before the load ---------------------------------------------------------------------------------------

    def seed(self) -> dict[str, Any]:
        """The product (given, or made on the demo shop), its stock and order count, and the webhook endpoint."""
        admin, settings = self._admin(), self.settings
        if settings.product_id:
            reply = admin.send("GET", self._url(f"/v1/products/{settings.product_id}"), "/v1/products/[id]")
        else:
            product = {"name": "shopstorm load-test product", "price_amount": settings.seed_price,
                       "stock": settings.seed_stock}  # fmt: skip
            reply = admin.send("POST", self._url("/v1/products/"), "/v1/products/", json=product)
        product_id = admin.field(reply, "id", "products")
        stock = reply.body.get("stock") if isinstance(reply.body, dict) else None
        seed = {
            "product_id": product_id,
            "stock": stock if isinstance(stock, int) else None,
            "orders": self._order_count(admin, product_id),
            "webhooks": bool(settings.webhooks),
        }
        if settings.webhooks:
            self._listen(admin)
        return seed

    def _order_count(self, admin: AdminSession, product_id: str) -> int | None:
        reply = admin.read("GET", self._url(f"/v1/orders/?product_id={product_id}&limit=1"))
        pagination = reply.body.get("pagination") if isinstance(reply.body, dict) else None
        total = pagination.get("total_count") if isinstance(pagination, dict) else None
        return total if reply.outcome == "ok" and isinstance(total, int) else None

    def _listen(self, admin: AdminSession) -> None:
        """Start the receiver and register it with the shop for every event type."""
        self.receiver = WebhookReceiver(new_webhook_secret(), max_body=self.settings.max_body)
        local_url = self.receiver.start(port=self.settings.webhook_port)
        url = self.settings.webhook_url or local_url
        endpoint = {"url": url, "events": list(EVENTS), "secret": self.receiver.secret, "format": "raw"}
        try:
            reply = admin.send("POST", self._url("/v1/webhooks/endpoints"), "/v1/webhooks/endpoints", json=endpoint)
            self.endpoint_id = admin.field(reply, "id", "webhooks/endpoints")
        except TargetUnreachable:
            self.receiver.stop()
            raise

    def shopper(self, http: Any) -> CheckoutApiShopper:
        http.auth_header = f"Bearer {self.settings.api_token}"
        return CheckoutApiShopper(http, self)

    # --- after the load ----------------------------------------------------------------------------------------

    def audit(self, entries: list[Entry]) -> AuditResult:
        """Wait (up to --settle-timeout) for confirmed checkouts to settle and their order.paid webhooks to
        arrive, then check them against the ledger and the webhooks received."""
        admin = self._admin()
        state = PaymentsState()
        secrets = {e.entity: e.related for e in entries if e.kind == "created" and e.outcome == "ok"}
        deadline = time.monotonic() + self.settings.settle_timeout
        told_provider = {e.entity for e in entries if e.kind == "provider_event" and e.outcome == "ok"}
        # A confirm or provider event the run cut off (or that got no answer) may still commit in the shop: an open
        # checkout with one is read again until it has stayed open for the quiet period.
        in_doubt = _payments_in_doubt(entries)
        quiet_until = time.monotonic() + QUIET_S
        pending = sorted(secrets)
        while True:
            self._read_checkouts(admin, state, {cid: secrets[cid] for cid in pending})
            quiet = time.monotonic() >= quiet_until
            paid = self._paid_checkouts()  # once a round, not once a checkout: deliveries grow with the run
            pending = [
                cid
                for cid in pending
                if not self._settled(state, cid, cid in told_provider, quiet or cid not in in_doubt, paid)
            ]
            if not pending or time.monotonic() >= deadline:
                break
            gevent.sleep(AUDIT_POLL_S)
        self._read_product(admin, state)
        deliveries = list(self.receiver.deliveries) if self.receiver else None
        if deliveries is not None:
            # A webhook is sent after its change commits, so a checkout read before its event arrived is read again:
            # the state and the deliveries the audit compares must be of the same moment.
            stale = [
                cid
                for cid in self._paid_checkouts(deliveries) & set(secrets)
                if getattr(state.checkouts.get(cid), "status", None) != "succeeded"
            ]
            self._read_checkouts(admin, state, {cid: secrets[cid] for cid in stale})
        return check_settlement(entries, state, deliveries, now=time.time())

    def _paid_checkouts(self, deliveries: Iterable[Delivery] | None = None) -> set[str] | None:
        """The checkouts an ``order.paid`` arrived for (of ``deliveries``, or all the receiver has so far); ``None``
        when no webhooks are received."""
        if deliveries is None:
            if self.receiver is None:
                return None
            deliveries = list(self.receiver.deliveries)
        return {d.checkout_id for d in deliveries if d.valid and d.event_type == PAID_EVENT and d.checkout_id}

    def _settled(
        self, state: PaymentsState, checkout_id: str, provider_told: bool, open_is_final: bool, paid: set[str] | None
    ) -> bool:
        """Nothing more to wait for: the checkout ended (and its order.paid arrived, when ``paid`` says which did),
        or it cannot move on.

        ``open_is_final`` is false while a cut-off confirm or provider event of this checkout may still commit."""
        checkout = state.checkouts.get(checkout_id)
        if checkout is None:
            return False  # unreadable for now: read it again until the deadline
        if checkout.status == "open":
            return open_is_final  # never confirmed, or the confirm was lost
        if checkout.awaits_provider and not provider_told:
            return open_is_final  # no provider event will come, unless one cut off is still being committed
        if checkout.status not in SETTLED:
            return False
        if checkout.status == "succeeded" and paid is not None:
            return checkout_id in paid
        return True

    def _read_checkouts(self, admin: AdminSession, state: PaymentsState, secrets: dict[str, str]) -> None:
        def read(checkout_id: str) -> None:
            reply = admin.read("GET", self._url(CHECKOUTS + secrets[checkout_id]))
            orders = admin.read("GET", self._url(f"/v1/orders/?checkout_id={checkout_id}"))
            state.unreadable.pop(checkout_id, None)
            for answer in (reply, orders):
                if answer.outcome != "ok" or not isinstance(answer.body, dict):
                    state.unreadable[checkout_id] = answer.detail
                    state.checkouts.pop(checkout_id, None)
                    return
            try:
                state.checkouts[checkout_id] = _checkout_state(reply.body, orders.body)
            except (KeyError, TypeError, ValueError) as error:
                state.unreadable[checkout_id] = f"unreadable answer: {error}"

        admin.map(read, list(secrets))

    def _read_product(self, admin: AdminSession, state: PaymentsState) -> None:
        """The product's stock and order count now. They are two reads: a settlement committing between them would
        look like stock gone without an order, so a reading that does not add up is taken again until two in a row
        agree (at most QUIET_READS): a race settles, a real loss stays."""
        before_stock, before_orders = self.seed_data.get("stock"), self.seed_data.get("orders")
        if before_stock is None or before_orders is None:
            return

        def read() -> tuple[int, int] | None:  # (stock, order count), or None when either cannot be read
            reply = admin.read("GET", self._url(f"/v1/products/{self.product_id}"))
            orders = self._order_count(admin, self.product_id)
            stock = reply.body.get("stock") if isinstance(reply.body, dict) else None
            if reply.outcome != "ok" or not isinstance(stock, int) or orders is None:
                return None
            return stock, orders

        def adds_up(reading: tuple[int, int] | None) -> bool:
            return reading is None or before_stock - reading[0] == reading[1] - before_orders

        reading = read_until_steady(read, done=adds_up)
        if reading is not None:
            state.stock, state.product_orders = (before_stock, reading[0]), (before_orders, reading[1])

    def report_sections(self, entries: list[Entry]) -> dict[str, Any]:
        """summary.json's ``webhooks``: what the receiver got (a delivery about no checkout this run created is
        rejected), and delivery latency per event type."""
        if self.receiver is None:
            return {}
        confirmed = confirm_times(entries)
        created = {entry.entity for entry in entries if entry.kind == "created"}
        first: dict[tuple[str, str], float] = {}
        for delivery in self.receiver.deliveries:
            if delivery.valid and not delivery.duplicate and delivery.checkout_id in confirmed:
                key = (delivery.event_type, delivery.checkout_id)
                first[key] = min(first.get(key, delivery.received_at), delivery.received_at)
        latencies: dict[str, list[float]] = {}
        for (event_type, checkout_id), arrived in first.items():
            latencies.setdefault(event_type, []).append(max(0.0, arrived - confirmed[checkout_id]) * 1000)
        return {
            "webhooks": {
                **self.receiver.counts(created),
                "delivery_ms": {kind: _latency(values) for kind, values in sorted(latencies.items())},
            }
        }

    def finish(self) -> None:
        """Remove the webhook endpoint from the shop and stop the receiver."""
        if self.endpoint_id is not None:
            self._admin().read("DELETE", self._url(f"/v1/webhooks/endpoints/{self.endpoint_id}"))
            self.endpoint_id = None
        if self.receiver is not None:
            self.receiver.stop()


def _payments_in_doubt(entries: Iterable[Entry]) -> set[str]:
    """Checkouts whose confirm or provider event got no answer (cut off by the end of the run, a 5xx, a lost
    connection) and none acknowledged: the shop may still be committing it."""
    unanswered = {e.entity for e in entries if e.kind in ("confirm", "provider_event") and e.outcome == "unknown"}
    return unanswered - set(confirm_times(entries))


def _latency(values_ms: list[float]) -> dict[str, float | int]:
    histogram = new_histogram()
    for milliseconds in values_ms:  # a few per checkout, after the run: record_value's cost does not matter here
        histogram.record_value(min(max(int(milliseconds * 1000), LOWEST_US), HIGHEST_US))
    return summarize(histogram).as_dict()


def _checkout_state(checkout: dict[str, Any], orders: dict[str, Any]) -> CheckoutState:
    confirmed_at = checkout.get("confirmed_at")
    return CheckoutState(
        status=str(checkout["status"]),
        amount=whole_number(checkout, "amount"),
        order_amounts=tuple(whole_number(order, "amount") for order in orders["items"]),
        confirmed_at=_epoch(confirmed_at) if isinstance(confirmed_at, str) else None,
        awaits_provider=checkout.get("payment_processor") not in (None, "dummy"),
    )


def _epoch(iso: str) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
