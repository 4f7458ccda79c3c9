"""The checkout API of a real demo shop process, on SQLite and PostgreSQL: its token and secrets, a checkout's
way to a paid order, validation, concurrent confirms, Stripe events in, and the durable job queue behind it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
import stripe
from checkout_api_client import QUIET_S, STORES, STRIPE_SECRET, TOKEN, WAIT_S, CheckoutClient, eventually
from sqlalchemy.ext.asyncio import AsyncConnection

from shopstorm.demoshop.checkout_api.checkouts import checkout_products
from shopstorm.demoshop.core.jobs import JobQueue, enqueue, jobs
from shopstorm.demoshop.core.store import Store, parse_store_url
from shopstorm.demoshop.process import STRIPE_SECRET_ENV, DemoShopProcess

BACKLOG = 100


def stripe_event(event_type: str, checkout: dict[str, Any], amount: int | None = None, event_id: str = "") -> str:
    """A Stripe charge event about a checkout, as Stripe sends it to Polar (the checkout in its metadata)."""
    event = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {
            "object": {
                "id": f"ch_{uuid.uuid4().hex[:24]}",
                "object": "charge",
                "amount": checkout["amount"] if amount is None else amount,
                "currency": "usd",
                "status": "succeeded" if event_type == "charge.succeeded" else "failed",
                "metadata": {"checkout_id": checkout["id"]},
            }
        },
    }
    return json.dumps(event)


def send_stripe(
    shop_url: str, payload: str, secret: str = STRIPE_SECRET, signed_at: int | None = None
) -> requests.Response:
    signature = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=signed_at)
    return requests.post(
        f"{shop_url}/v1/integrations/stripe/webhook",
        data=payload.encode(),
        headers={"Stripe-Signature": signature, "content-type": "application/json"},
        timeout=10,
    )


@pytest.fixture(params=STORES)
def api(request: pytest.FixtureRequest, demo_shop) -> CheckoutClient:
    return CheckoutClient(demo_shop(request.param, api_token=TOKEN, stripe_secret=STRIPE_SECRET).url)


# --- access ------------------------------------------------------------------------------------------------


def test_a_shop_without_token_or_stripe_secret_refuses_the_checkout_api(demo_shop) -> None:
    shop_url = demo_shop("sqlite").url

    refused = CheckoutClient(shop_url, token="anything").call("POST", "/v1/products/", json={})
    event = json.dumps({"id": "evt_1", "object": "event", "type": "charge.succeeded", "data": {}})

    assert (refused.status_code, refused.json()["error"]) == (401, "Unauthorized")
    assert "--api-token" in refused.json()["detail"]
    unverifiable = send_stripe(shop_url, event, secret="whsec_guess")
    assert (unverifiable.status_code, unverifiable.json()["error"]) == (400, "InvalidSignature")
    assert requests.get(f"{shop_url}/health", timeout=5).status_code == 200
    assert requests.post(f"{shop_url}/payment/create_user", timeout=5).status_code == 200


def test_secrets_reach_the_shop_by_its_environment_and_basic_auth_leaves_v1_to_the_token(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'shop.db'}"
    with DemoShopProcess(store=store, basic_auth="staff:pw", api_token=TOKEN, stripe_secret=STRIPE_SECRET) as shop:
        assert shop.process is not None
        command_lines = [" ".join(shop.command(Path("ready.json")))]
        if Path(f"/proc/{shop.process.pid}/cmdline").exists():
            command_lines.append(Path(f"/proc/{shop.process.pid}/cmdline").read_bytes().decode(errors="replace"))

        for command_line in command_lines:
            assert TOKEN not in command_line and STRIPE_SECRET not in command_line
        assert CheckoutClient(shop.url).call("GET", "/v1/orders/").status_code == 200
        assert CheckoutClient(shop.url, token=TOKEN + "x").call("GET", "/v1/orders/").status_code == 401
        assert requests.post(f"{shop.url}/payment/create_user", timeout=5).status_code == 401
        assert requests.post(f"{shop.url}/payment/create_user", auth=("staff", "pw"), timeout=5).status_code == 200


def test_the_banner_never_shows_the_secrets(tmp_path: Path) -> None:
    ready_file = tmp_path / "ready.json"
    command = [sys.executable, "-m", "shopstorm.demoshop", "--port", "0", "--api-token", TOKEN]
    shop = subprocess.Popen(
        [*command, "--ready-file", str(ready_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, STRIPE_SECRET_ENV: STRIPE_SECRET},
    )
    try:
        url = eventually(lambda: ready_file.exists() and json.loads(ready_file.read_text())["url"], "the ready file")
        assert CheckoutClient(url).call("GET", "/v1/orders/").status_code == 200
        event = stripe_event("charge.succeeded", {"id": "c", "amount": 1})
        assert send_stripe(url, event).json() == {"received": True}
    finally:
        shop.send_signal(signal.SIGTERM)
        stdout, stderr = shop.communicate(timeout=10)

    assert shop.returncode == 0, stderr
    assert stdout.startswith(f"demo shop: {url} (webshop API, storefront, /v1 checkout API; ")
    assert TOKEN not in stdout + stderr and STRIPE_SECRET not in stdout + stderr


# --- checkouts and settlement --------------------------------------------------------------------------------


def test_a_checkout_from_creation_to_its_paid_order(api: CheckoutClient) -> None:
    for token in (None, "wrong"):
        refused = CheckoutClient(api.url, token).call("GET", "/v1/orders/")
        assert (refused.status_code, refused.json()["error"]) == (401, "Unauthorized")
    product = api.product(stock=3, price_amount=0)
    assert api.call("GET", f"/v1/products/{product['id']}").json() == product

    checkout = api.checkout(product)
    assert checkout["client_secret"].startswith("polar_c_")
    assert {key: checkout[key] for key in ("status", "amount", "currency", "customer_email", "order_id")} == {
        "status": "open",
        "amount": 0,
        "currency": "usd",
        "customer_email": None,
        "order_id": None,
    }
    patched = api.call(
        "PATCH",
        f"/v1/checkouts/client/{checkout['client_secret']}",
        json={"customer_name": "Ada", "customer_email": "ada@shopstorm.dev"},
    )
    assert (patched.status_code, patched.json()["customer_name"]) == (200, "Ada")
    assert api.get(checkout) == patched.json()
    unknown = api.call("GET", "/v1/checkouts/client/polar_c_nope")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "ResourceNotFound")

    confirmed = api.call("POST", f"/v1/checkouts/client/{checkout['client_secret']}/confirm")
    assert (confirmed.status_code, confirmed.json()["status"]) == (200, "confirmed")
    assert confirmed.json()["confirmed_at"] is not None
    again = api.confirm(checkout)
    assert (again.status_code, again.json()["error"]) == (403, "NotOpenCheckout")
    settled = api.settled(checkout)

    assert settled["status"] == "succeeded"
    [order] = api.orders(checkout_id=checkout["id"])
    assert order == {
        "id": settled["order_id"],
        "checkout_id": checkout["id"],
        "product_id": product["id"],
        "amount": 0,
        "customer_email": "ada@shopstorm.dev",
        "status": "paid",
        "created_at": order["created_at"],
    }
    assert api.stock(product) == 2
    late_patch = api.call("PATCH", f"/v1/checkouts/client/{checkout['client_secret']}", json={"customer_name": "Bo"})
    assert (late_patch.status_code, late_patch.json()["error"]) == (403, "NotOpenCheckout")
    listed = api.call("GET", "/v1/orders/", params={"product_id": product["id"], "page": 1, "limit": 10}).json()
    assert listed == {"items": [order], "pagination": {"total_count": 1, "max_page": 1}}


def test_invalid_bodies_are_422_with_the_field_located(api: CheckoutClient) -> None:
    def problems(method: str, path: str, body: Any) -> list[tuple[list[str], str]]:
        response = api.call(method, path, json=body)
        assert (response.status_code, response.json()["error"]) == (422, "RequestValidationError"), response.text
        return sorted((problem["loc"], problem["type"]) for problem in response.json()["detail"])

    assert problems("POST", "/v1/products/", {"name": "", "price_amount": 0, "stock": "5"}) == [
        (["body", "name"], "string_too_short"),
        (["body", "prices"], "missing"),
        (["body", "stock"], "int_type"),
    ]
    negative = {"name": "x", "prices": [{"amount_type": "fixed", "price_amount": -1}]}
    assert problems("POST", "/v1/products/", negative) == [
        (["body", "prices", 0, "price_amount"], "greater_than_equal")
    ]
    assert problems("POST", "/v1/products/", [1]) == [(["body"], "model_attributes_type")]
    assert problems("POST", "/v1/checkouts/", {"products": ["no-such-product"]}) == [
        (["body", "products"], "value_error")
    ]
    assert problems("POST", "/v1/checkouts/", {"products": []}) == [(["body", "products"], "too_short")]
    checkout = api.checkout(api.product())
    secret = checkout["client_secret"]
    assert problems("PATCH", f"/v1/checkouts/client/{secret}", {"customer_email": "no-at-sign"}) == [
        (["body", "customer_email"], "value_error")
    ]
    assert problems("POST", f"/v1/checkouts/client/{secret}/confirm", {}) == [(["body", "customer_email"], "missing")]
    assert problems(
        "POST", "/v1/webhooks/endpoints", {"url": "ftp://x", "events": ["order.shipped"], "secret": "s"}
    ) == [
        (["body", "events"], "list_type"),
        (["body", "secret"], "string_too_short"),
        (["body", "url"], "url_scheme"),
    ]
    assert api.get(checkout)["status"] == "open"


def test_concurrent_confirms_charge_each_checkout_once_and_fail_past_the_stock(api: CheckoutClient) -> None:
    product = api.product(stock=3)
    checkouts = [api.checkout(product) for _ in range(6)]

    with ThreadPoolExecutor(max_workers=24) as pool:
        statuses = Counter(pool.map(lambda c: (c["id"], api.confirm(c).status_code), checkouts * 4))
    settled = [api.settled(checkout) for checkout in checkouts]

    assert statuses == {**{(c["id"], 200): 1 for c in checkouts}, **{(c["id"], 403): 3 for c in checkouts}}
    assert Counter(checkout["status"] for checkout in settled) == {"succeeded": 3, "failed": 3}
    for checkout in settled:
        orders = api.orders(checkout_id=checkout["id"])
        assert [order["id"] for order in orders] == (
            [checkout["order_id"]] if checkout["status"] == "succeeded" else []
        )
    assert api.stock(product) == 0


# --- inbound provider events -------------------------------------------------------------------------------


def test_stripe_events_settle_only_when_signed_new_and_matching(api: CheckoutClient) -> None:
    product = api.product(stock=5, price_amount=2500)
    paid, declined = (api.checkout(product) for _ in range(2))
    paid, declined = (api.confirm(checkout).json() for checkout in (paid, declined))
    assert paid["status"] == "confirmed" and paid["payment_processor"] == "stripe" and "payment_intent_id" not in paid
    succeeded = stripe_event("charge.succeeded", paid)

    forged = send_stripe(api.url, succeeded, secret="whsec_not_the_shops")
    expired = send_stripe(api.url, succeeded, signed_at=int(time.time()) - 600)
    unsigned = requests.post(f"{api.url}/v1/integrations/stripe/webhook", data=succeeded, timeout=10)
    time.sleep(QUIET_S)

    for refused in (forged, expired, unsigned):
        assert (refused.status_code, refused.json()["error"]) == (400, "InvalidSignature")
    assert api.get(paid)["status"] == "confirmed"

    accepted = send_stripe(api.url, succeeded)
    assert (accepted.status_code, accepted.json()) == (200, {"received": True})
    assert api.settled(paid)["status"] == "succeeded"
    assert len(api.orders(checkout_id=paid["id"])) == 1

    replayed_id = json.loads(succeeded)["id"]  # the same event id, now about the other checkout: a no-op
    assert send_stripe(api.url, stripe_event("charge.succeeded", declined, event_id=replayed_id)).status_code == 200
    assert send_stripe(api.url, stripe_event("charge.succeeded", declined, amount=1)).status_code == 200
    time.sleep(QUIET_S)
    assert api.get(declined)["status"] == "confirmed"

    assert send_stripe(api.url, stripe_event("charge.failed", declined)).status_code == 200
    eventually(lambda: api.get(declined)["status"] == "open", "the declined checkout open again")
    assert api.orders(checkout_id=declined["id"]) == []
    assert api.stock(product) == 4


# --- the job queue -----------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_two_shops_on_one_schema_share_the_job_queue_without_running_a_job_twice(demo_shop, pg_url) -> None:
    shops = [CheckoutClient(demo_shop("postgres", api_token=TOKEN).url) for _ in range(2)]
    product = shops[0].product(stock=40)
    checkouts = [shops[index % 2].checkout(product) for index in range(40)]

    with ThreadPoolExecutor(max_workers=20) as pool:
        confirmed = list(pool.map(lambda pair: shops[pair[0] % 2].confirm(pair[1]).status_code, enumerate(checkouts)))
    settled = [shops[1].settled(checkout) for checkout in checkouts]

    assert confirmed == [200] * 40
    assert Counter(checkout["status"] for checkout in settled) == {"succeeded": 40}
    orders = shops[0].orders(product_id=product["id"])
    assert sorted(order["checkout_id"] for order in orders) == sorted(checkout["id"] for checkout in checkouts)
    assert shops[1].stock(product) == 0
    with psycopg.connect(pg_url.store_url) as conn:
        runs = conn.execute(f'SELECT state, attempts, worker FROM "{pg_url.schema}".jobs').fetchall()
    assert Counter((state, attempts) for state, attempts, _ in runs) == {("done", 1): 40}
    assert len({worker for _, _, worker in runs}) == 2, "both shops' workers ran jobs"


@pytest.mark.postgres
def test_two_workers_draining_one_backlog_never_run_a_job_twice(pg_url) -> None:
    async def scenario() -> list[tuple[str, int]]:
        stores = [Store(parse_store_url(*pg_url)) for _ in range(2)]  # two engines, like two shop processes
        await stores[0].prepare()
        runs: list[tuple[str, int]] = []

        def counting(worker: str) -> Callable[[AsyncConnection, dict[str, Any]], Any]:
            async def count(_conn: AsyncConnection, payload: dict[str, Any]) -> None:
                runs.append((worker, payload["n"]))
                await asyncio.sleep(0)

            return count

        async with stores[0].write() as conn:  # the backlog is there before either worker looks
            for n in range(BACKLOG):
                await enqueue(conn, "count", {"n": n})
        queues = [JobQueue(store, {"count": counting(f"worker {i}")}) for i, store in enumerate(stores)]
        workers = [asyncio.create_task(queue.run()) for queue in queues]
        try:
            async with asyncio.timeout(WAIT_S):
                while len({n for _, n in runs}) < BACKLOG:
                    await asyncio.sleep(0.02)
            await asyncio.sleep(QUIET_S)
            return runs
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            for store in stores:
                await store.close()

    runs = asyncio.run(scenario())

    assert Counter(n for _, n in runs) == dict.fromkeys(range(BACKLOG), 1)
    assert {worker for worker, _ in runs} == {"worker 0", "worker 1"}


def test_a_job_that_raises_is_retried_after_a_backoff_and_its_effects_commit_once(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[float], list[str], Any]:
        store = Store(parse_store_url(f"sqlite:///{tmp_path / 'jobs.db'}"))
        await store.prepare()
        runs: list[float] = []

        async def flaky(conn: AsyncConnection, payload: dict[str, Any]) -> None:
            runs.append(time.monotonic())
            values = {"id": f"run-{len(runs)}", "name": payload["name"], "price_amount": 1, "stock": 0, "created_at": 0}
            await conn.execute(checkout_products.insert().values(values))
            if len(runs) == 1:
                raise RuntimeError("the first attempt fails after writing")

        queue = JobQueue(store, {"flaky": flaky})
        worker = asyncio.create_task(queue.run())
        try:
            async with store.write() as conn:
                await enqueue(conn, "flaky", {"name": "made by a job"})
            queue.wake()
            async with asyncio.timeout(WAIT_S):
                while True:
                    async with store.read() as conn:
                        job = (await conn.execute(jobs.select())).one()
                        products = list((await conn.execute(checkout_products.select())).scalars())
                    if job.state == "done":
                        return runs, products, job
                    await asyncio.sleep(0.02)
        finally:
            worker.cancel()
            await store.close()

    runs, products, job = asyncio.run(scenario())

    assert len(runs) == 2 and runs[1] - runs[0] >= 0.5, "one retry, after its 0.5 s backoff"
    assert products == ["run-2"], "the failed attempt's write was rolled back"
    assert (job.attempts, job.last_error) == (2, None)
