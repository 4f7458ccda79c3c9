"""The ``checkout-api`` target: a payment platform's checkout API (Polar style), with background settlement and
signed webhooks both ways.

Shoppers create checkouts with the platform's organization token (``POST /v1/checkouts/``), then fill in the
customer, read them and confirm them by client secret; a confirmed checkout is settled later by the platform's
background jobs: a free one at once, a paid one (confirmed with a Stripe confirmation token) on the provider's
``charge.succeeded``; a failed payment returns it to open. The ``settle`` step polls it until it succeeds, with
bounded backoff, and its time from the confirm is the ``settlement`` journey. The ``inbound_payment`` journey
plays the payment provider: it posts a Stripe-signed ``charge.succeeded`` for a paid checkout it confirmed.

During the run shopstorm receives the platform's outbound webhooks on a loopback port (in the master or local
process: one receiver per run, whatever the number of load processes), registered through
``POST /v1/webhooks/endpoints`` at the seed and removed at the end. A delivery counts only when its Standard Webhooks
signature is valid and it is about a checkout of this run; any other POST is a rejected delivery, counted apart and
never held against the shop (:mod:`shopstorm.targets.webhook_receiver`). Delivery latency (confirm → event
arrival, per event type, :mod:`shopstorm.metrics.delivery`) goes into summary.json's ``webhooks``.
With ``--audit``, the audit waits up to ``--settle-timeout`` for confirmed checkouts to settle and their webhooks to
arrive, then checks them (:mod:`shopstorm.audit.settlement`). The seed's calls and the audit's reads and wait are
:mod:`shopstorm.targets.checkout_api_reader`'s.

See docs/targets/checkout-api.md, also for pointing it at a real deployment.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import gevent

from shopstorm.audit.invariants import AuditResult
from shopstorm.audit.ledger import LEDGER, Entry
from shopstorm.audit.settlement import PAYMENT_FAILED, check_settlement, confirm_times
from shopstorm.errors import TargetUnreachable, UsageError
from shopstorm.metrics.delivery import delivery_latency
from shopstorm.replies import JourneyFailed, Reply
from shopstorm.setting_values import parse_positive_float
from shopstorm.settings import Settings
from shopstorm.targets.admin_http import whole_number
from shopstorm.targets.base import Target, call
from shopstorm.targets.checkout_api_reader import CHECKOUTS, CLIENT_CHECKOUTS, CheckoutApiReader, Received
from shopstorm.targets.signing import new_webhook_secret, sign_stripe_event
from shopstorm.targets.webhook_receiver import WebhookReceiver

EVENTS = ("checkout.updated", "order.created", "order.paid")
PROVIDER_PATH = "/v1/integrations/stripe/webhook"
NAMES = {
    "create": CHECKOUTS,
    "create 2024": CLIENT_CHECKOUTS,
    "checkout": CLIENT_CHECKOUTS + "[client_secret]",
    "confirm": CLIENT_CHECKOUTS + "[client_secret]/confirm",
    "provider": PROVIDER_PATH,
}
# Polar's load-test thresholds in ms (server/load_tests config: LoadTestConfig), each a p95 gate on the request it
# times; the environment names in the order read (shopstorm's first name kept as an alias).
THRESHOLDS = (
    (("LOAD_TEST_CHECKOUT_CREATE_THRESHOLD",), "POST", "create"),
    (("LOAD_TEST_CHECKOUT_CONFIRM_THRESHOLD",), "POST", "confirm"),
    (("LOAD_TEST_LIST_THRESHOLD", "LOAD_TEST_CHECKOUT_LIST_THRESHOLD"), "GET", "checkout"),
)
LOCAL_CONFIRMATION_TOKEN = "ctoken_shopstorm_local"
LOCAL_EMAIL = "loadtest@shopstorm.dev"  # the customer of a shop on this machine when --customer-email gives none
WEBHOOKS_SKIPPED = "shopstorm: --no-webhooks: no webhooks are received, so the webhook invariants are not checked"
POLL_FIRST_S, POLL_MAX_S = 0.05, 1.0  # the settle step's backoff: doubling from the first wait up to the max


@dataclass
class Checkout:
    """What a shopper knows of one of its checkouts."""

    id: str
    client_secret: str
    amount: int
    status: str

    @classmethod
    def from_reply(cls, reply: Reply, step: str) -> Checkout:
        body = reply.body if isinstance(reply.body, dict) else {}
        try:
            return cls(str(body["id"]), str(body["client_secret"]), whole_number(body, "amount"),
                       str(body["status"]))  # fmt: skip
        except (KeyError, ValueError) as error:
            raise JourneyFailed(f"{step}: the checkout in the answer is incomplete ({error})", reply) from None


class CheckoutApiShopper:
    """One shopper's calls to the checkout API, through its Locust session (bearer token set on it).

    Creating a checkout and confirming it go to the ledger (what the shop told the shopper, and when), also when
    the shopper is stopped before the answer.
    """

    def __init__(self, http: Any, target: CheckoutApiTarget) -> None:
        self.http, self.target = http, target

    def create(self, email: str, paid: bool = False) -> Checkout:
        """Create a checkout for the seeded free product (or the paid one): ``POST /v1/checkouts/`` with
        ``products``, or on an older deployment (``--checkout-api-version 2024``) the client route with
        ``product_id``."""
        body: dict[str, Any] = {"customer_email": email}
        product_id = self.target.paid_product_id if paid else self.target.product_id
        if self.target.seed_data.get("checkout_api_version") == "2024":
            path, name, body["product_id"] = CLIENT_CHECKOUTS, NAMES["create 2024"], product_id
        else:
            path, name, body["products"] = CHECKOUTS, NAMES["create"], [product_id]
        reply = call(self.http, "POST", path, name=name, step="create checkout", json=body)
        checkout = Checkout.from_reply(reply, "create checkout")
        LEDGER.record("created", checkout.id, checkout.client_secret, checkout.amount, "ok", reply.detail)
        return checkout

    def update_customer(self, checkout: Checkout, customer: dict[str, Any]) -> Checkout:
        reply = call(self.http, "PATCH", CLIENT_CHECKOUTS + checkout.client_secret, name=NAMES["checkout"],
                     step="update customer", json=customer)  # fmt: skip
        return Checkout.from_reply(reply, "update customer")

    def get(self, checkout: Checkout, name: str = NAMES["checkout"]) -> Checkout:
        reply = call(self.http, "GET", CLIENT_CHECKOUTS + checkout.client_secret, name=name, step="get checkout")
        return Checkout.from_reply(reply, "get checkout")

    def confirm(self, checkout: Checkout) -> Checkout:
        """Confirm; success means the checkout answers ``confirmed``. A paid checkout's confirm carries the
        Stripe confirmation token, as Polar needs."""
        body = {"confirmation_token_id": self.target.confirmation_token} if checkout.amount > 0 else {}
        reply = LEDGER.recorded("confirm", checkout.id, checkout.client_secret, checkout.amount, lambda: call(
            self.http, "POST", f"{CLIENT_CHECKOUTS}{checkout.client_secret}/confirm", name=NAMES["confirm"],
            step="confirm", json=body,
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
            if current.status == "open":  # Polar reopens a checkout whose payment failed
                LEDGER.record(PAYMENT_FAILED, checkout.id, checkout.client_secret, checkout.amount, "ok", "open")
                raise JourneyFailed("settle: the payment failed (the checkout is open again)")
            if current.status == "failed":
                raise JourneyFailed("settle: the payment failed")
            if time.monotonic() + wait > deadline:
                raise JourneyFailed(f"settle: still {current.status} after {self.target.settings.settle_timeout:g} s")
            gevent.sleep(wait)
            wait = min(wait * 2, POLL_MAX_S)

    def pay_at_provider(self, checkout: Checkout, customer: dict[str, Any]) -> None:
        """Post Stripe's signed ``charge.succeeded`` for a confirmed paid checkout."""
        event = provider_event(checkout, customer)
        payload = json.dumps(event, separators=(",", ":"))
        secret = str(self.target.settings.provider_secret)
        headers = {"Stripe-Signature": sign_stripe_event(payload, secret), "Content-Type": "application/json"}
        LEDGER.recorded("provider_event", checkout.id, event["id"], checkout.amount, lambda: call(
            self.http, "POST", PROVIDER_PATH, name=NAMES["provider"], step="provider event", data=payload,
            headers=headers,
        ))  # fmt: skip


def is_loopback(url: str | None) -> bool:
    """Whether ``url``'s host is this machine (localhost or a loopback address)."""
    host = urlsplit(url or "").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_https(url: str | None) -> bool:
    return urlsplit(url or "").scheme == "https"


def provider_event(checkout: Checkout, customer: dict[str, Any]) -> dict[str, Any]:
    """A ``charge.succeeded`` event as Stripe sends it for this checkout: Polar's Stripe integration finds the
    checkout by the charge's ``metadata.checkout_id`` (server/polar/integrations/stripe/payment.py)."""
    now = int(time.time())
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": now,
        "livemode": False,
        "pending_webhooks": 1,
        "type": "charge.succeeded",
        "data": {
            "object": {
                "id": f"ch_{uuid.uuid4().hex[:24]}",
                "object": "charge",
                "amount": checkout.amount,
                "amount_captured": checkout.amount,
                "currency": "usd",
                "status": "succeeded",
                "paid": True,
                "created": now,
                "payment_intent": f"pi_{uuid.uuid4().hex[:24]}",
                "receipt_email": customer.get("customer_email"),
                "metadata": {"checkout_id": checkout.id},
            }
        },
    }


class CheckoutApiTarget(Target):
    name = "checkout-api"
    description = "a payment platform's checkout API (Polar style): bearer token, background settlement, webhooks"
    keeps_ledger = True  # confirm times are needed for delivery latency, audited or not

    @classmethod
    def environment_gates(cls, environ: Mapping[str, str]) -> list[str]:
        """Polar's ``LOAD_TEST_*_THRESHOLD`` milliseconds as p95 gates on the requests they time."""
        gates = []
        for names, method, request in THRESHOLDS:
            name = next((name for name in names if environ.get(name, "").strip()), None)
            if name is None:
                continue
            try:
                milliseconds = parse_positive_float(environ[name])
            except ValueError as error:
                raise UsageError(f"${name}: {error} (milliseconds)") from None
            gates.append(f'"{method} {NAMES[request]}" p95<{milliseconds:g}ms')
        return gates

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        if not settings.host:
            raise UsageError("the checkout-api target needs --host URL (or $LOAD_TEST_HOST)")
        if settings.urls:
            raise UsageError("the checkout-api target takes --host, not --urls")
        if not settings.api_token:
            raise UsageError("the checkout-api target needs an API token: $LOAD_TEST_API_TOKEN or --api-token")
        if settings.customer_email and settings.customer_email.count("@") != 1:
            raise UsageError(
                f"--customer-email must be one address, like loadtest@yourco.com, not {settings.customer_email!r}"
            )
        if not settings.customer_email and not is_loopback(settings.host):
            raise UsageError(
                "Polar refuses customer emails it cannot deliver to (.test, example.com): give --customer-email "
                "loadtest@yourco.com (each checkout gets loadtest+<run>-<n>@yourco.com)"
            )
        if settings.webhooks and not is_loopback(settings.host) and not _is_https(settings.webhook_url):
            raise UsageError(
                "a shop that is not on this machine can only post webhooks to a public HTTPS URL (Polar refuses "
                "any other): give --webhook-url https://… (a tunnel to --webhook-port), or --no-webhooks to skip "
                "the webhook invariants"
            )
        self.receiver: WebhookReceiver | None = None
        self.endpoint_id: str | None = None
        self.paid_journeys = False  # whether a mix of this run pays (inbound_payment): check_journeys says

    @property
    def base_url(self) -> str:
        return str(self.settings.host)

    @property
    def product_id(self) -> str:
        return str(self.seed_data["product_id"])

    @property
    def paid_product_id(self) -> str:
        return str(self.seed_data.get("paid_product_id") or self.seed_data["product_id"])

    @property
    def confirmation_token(self) -> str:
        """The Stripe confirmation token of paid confirms: --confirmation-token-id, else a made-up one that only a
        shop on this machine (the demo shop) takes."""
        return self.settings.confirmation_token_id or LOCAL_CONFIRMATION_TOKEN

    def customer_email(self) -> str:
        """A new customer email, unique per checkout: ``--customer-email`` (else :data:`LOCAL_EMAIL`, for a shop on
        this machine) with ``+<run>-<n>`` added to its local part, as a mailbox that takes sub-addresses reads it."""
        local, _, domain = (self.settings.customer_email or LOCAL_EMAIL).partition("@")
        tag = f"{self.seed_data.get('run', 'run')}-{uuid.uuid4().hex[:10]}"
        return f"{local}{'-' if '+' in local else '+'}{tag}@{domain}"

    def check_journeys(self, names: Iterable[str]) -> None:
        paid = "inbound_payment" in names
        self.paid_journeys = self.paid_journeys or paid
        if paid and not self.settings.confirmation_token_id and not is_loopback(self.settings.host):
            raise UsageError(
                "the inbound_payment journey pays a checkout: Polar confirms a paid one only with a Stripe "
                "confirmation token, give a test-mode one with --confirmation-token-id (or run the flow mix: free)"
            )
        if paid and not self.settings.provider_secret:
            raise UsageError(
                "the inbound_payment journey signs provider events: give the shop's Stripe webhook secret "
                "with --provider-secret or $SHOPSTORM_PROVIDER_SECRET"
            )

    def _reader(self) -> CheckoutApiReader:
        return CheckoutApiReader(self.base_url, str(self.settings.api_token), max_body=self.settings.max_body,
                                 plays_provider=bool(self.settings.provider_secret))  # fmt: skip

    # --- before the load ---------------------------------------------------------------------------------------

    def seed(self) -> dict[str, Any]:
        """The way checkouts are created, the product (given, or a free one made, and a paid one when the mix
        pays), its stock (where the shop counts it) and order count, and the webhook endpoint."""
        reader, settings = self._reader(), self.settings
        version = reader.checkout_api_version(settings.checkout_api_version)
        product_id, stock = reader.seed_product(settings.product_id)
        paid_product_id = settings.product_id
        if not paid_product_id and self.paid_journeys:  # a paid product only for a run that pays
            paid_product_id = reader.seed_product(None, price=settings.seed_price)[0]
        seed = {
            "run": uuid.uuid4().hex[:6],  # in every customer email of the run
            "checkout_api_version": version,
            "product_id": product_id,
            "paid_product_id": paid_product_id,
            "stock": stock,
            "orders": reader.order_count(product_id),
            "webhooks": bool(settings.webhooks),
        }
        if settings.webhooks:
            self._listen(reader)
        else:
            print(WEBHOOKS_SKIPPED, file=sys.stderr)
        return seed

    def _listen(self, reader: CheckoutApiReader) -> None:
        """Start the receiver and register it with the shop for every event type; the receiver verifies with the
        secret the shop answers, keyed as ``--webhook-secret-format`` says."""
        settings = self.settings
        self.receiver = WebhookReceiver(new_webhook_secret(), max_body=settings.max_body,
                                        secret_format=settings.webhook_secret_format)  # fmt: skip
        local_url = self.receiver.start(port=settings.webhook_port)
        try:
            self.endpoint_id, secret = reader.register_endpoint(
                settings.webhook_url or local_url, EVENTS, self.receiver.secret
            )
            self.receiver.use_secret(secret)
        except (TargetUnreachable, UsageError):
            self.receiver.stop()
            raise

    def shopper(self, http: Any) -> CheckoutApiShopper:
        http.auth_header = f"Bearer {self.settings.api_token}"
        return CheckoutApiShopper(http, self)

    # --- after the load ----------------------------------------------------------------------------------------

    def audit(self, entries: list[Entry]) -> AuditResult:
        """Wait (up to --settle-timeout) for confirmed checkouts to settle and their order.paid webhooks to
        arrive, then check them against the ledger and the webhooks received."""
        timeout = self.settings.settle_timeout
        state, deliveries = self._reader().read_settled(entries, self.seed_data, timeout, self._received())
        return check_settlement(entries, state, deliveries, now=time.time())

    def _received(self) -> Received | None:
        """What the receiver got so far, each time it is called; None when no webhooks are received."""
        receiver = self.receiver
        return None if receiver is None else lambda: list(receiver.deliveries)

    def report_sections(self, entries: list[Entry]) -> dict[str, Any]:
        """summary.json's ``webhooks``: what the receiver got (a delivery about no checkout this run created is
        rejected), and delivery latency per event type."""
        if self.receiver is None:
            return {}
        confirmed = confirm_times(entries)
        created = {entry.entity for entry in entries if entry.kind == "created"}
        latency = delivery_latency(confirmed, self.receiver.deliveries)
        return {"webhooks": {**self.receiver.counts(created), "delivery_ms": latency}}

    def finish(self) -> None:
        """Remove the webhook endpoint from the shop and stop the receiver."""
        if self.endpoint_id is not None:
            self._reader().remove_endpoint(self.endpoint_id)
            self.endpoint_id = None
        if self.receiver is not None:
            self.receiver.stop()
