"""The checkout API: a Polar-like ``/v1`` API of products, checkouts, orders and webhook endpoints.

Checkouts are created with the organization token (``POST /v1/checkouts/`` with ``products``) and then read,
updated and confirmed by client secret (``/v1/checkouts/client/{client_secret}``), as Polar's
server/polar/checkout/endpoints.py routes them; the removed ``POST /v1/checkouts/client/`` answers 405.

This module maps each route to a handler that validates the request (:mod:`bodies`), calls the store work
(:mod:`checkouts`, :mod:`orders`, :mod:`webhooks`, :mod:`stripe_events`) and answers JSON, errors as
``{"error": <Type>, "detail": ...}``. Every route but the Stripe intake needs the shop's bearer token
(:mod:`bearer_auth`). Payment happens after the answer: confirming a checkout leaves it ``confirmed``, and the
shop's background work settles it, in two tasks that :meth:`CheckoutApi.running` keeps alive while the shop
serves: the job worker (:mod:`~shopstorm.demoshop.core.jobs`, running :mod:`settlement` and Stripe events) and
the webhook sender (:mod:`webhook_delivery`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from shopstorm.demoshop.checkout_api import checkouts, orders, stripe_events, webhooks
from shopstorm.demoshop.checkout_api.bearer_auth import BearerAuthMiddleware
from shopstorm.demoshop.checkout_api.bodies import (
    MAX_ID_LENGTH,
    confirm_fields,
    customer_changes,
    endpoint_fields,
    json_body,
    new_checkout_fields,
    order_query,
    product_fields,
)
from shopstorm.demoshop.checkout_api.rate_limits import SandboxLimits, SandboxLimitsMiddleware
from shopstorm.demoshop.checkout_api.settlement import Settlement
from shopstorm.demoshop.checkout_api.webhook_delivery import WebhookSender
from shopstorm.demoshop.core.errors import resource_not_found
from shopstorm.demoshop.core.faults import SLOW_WORKER_DELAY_S, FaultSwitches
from shopstorm.demoshop.core.jobs import JobQueue
from shopstorm.demoshop.core.store import Store

STRIPE_WEBHOOK_PATH = "/v1/integrations/stripe/webhook"


class CheckoutApi:
    """Handlers of the checkout API over one store, and the background work that settles its checkouts."""

    def __init__(
        self, store: Store, faults: FaultSwitches, api_token: str | None = None, stripe_secret: str | None = None
    ) -> None:
        self.store = store
        self.api_token = api_token
        self.stripe_secret = stripe_secret
        self.sender = WebhookSender(store)
        self.limits = SandboxLimits() if faults.sandbox_limits else None
        settlement = Settlement(faults, webhooks.WebhookEmitter(faults))
        self.jobs = JobQueue(
            store,
            {
                checkouts.SETTLE_JOB: settlement.settle_job,
                stripe_events.STRIPE_EVENT_JOB: stripe_events.StripeEventJobs(settlement).run,
            },
            delay_s=SLOW_WORKER_DELAY_S if faults.slow_worker else 0.0,
            after_job=self.sender.wake,
        )

    def routes(self) -> list[BaseRoute]:
        """The Stripe intake, then every other ``/v1`` route behind the bearer token."""
        guarded = [
            Route("/products/", self.create_product, methods=["POST"]),
            Route("/products/{product_id}", self.get_product, methods=["GET"]),
            Route("/checkouts/", self.create_checkout, methods=["POST"]),
            Route("/checkouts/client/", _removed_client_create, methods=["POST"]),
            Route("/checkouts/client/{client_secret}", self.get_checkout, methods=["GET"]),
            Route("/checkouts/client/{client_secret}", self.update_checkout, methods=["PATCH"]),
            Route("/checkouts/client/{client_secret}/confirm", self.confirm_checkout, methods=["POST"]),
            Route("/orders/", self.list_orders, methods=["GET"]),
            Route("/webhooks/endpoints", self.create_endpoint, methods=["POST"]),
            Route("/webhooks/endpoints/{endpoint_id}", self.delete_endpoint, methods=["DELETE"]),
        ]
        middleware = [Middleware(BearerAuthMiddleware, token=self.api_token)]
        if self.limits is not None:  # Polar's rate limits sit outside its routes, before authentication
            middleware.insert(0, Middleware(SandboxLimitsMiddleware, limits=self.limits))
        return [
            Route(STRIPE_WEBHOOK_PATH, self.stripe_webhook, methods=["POST"]),
            Mount("/v1", routes=guarded, middleware=middleware),
        ]

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the job worker and the webhook sender until the block ends, then cancel both and wait for them."""
        tasks = [
            asyncio.create_task(self.jobs.run(), name="checkout-api job worker"),
            asyncio.create_task(self.sender.run(), name="checkout-api webhook sender"),
        ]
        if self.stripe_secret:
            tasks.append(asyncio.create_task(asyncio.to_thread(stripe_events.load_stripe), name="import stripe"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- products ----------------------------------------------------------------------------------------

    async def create_product(self, request: Request) -> JSONResponse:
        name, price_amount, stock = product_fields(await json_body(request))
        return JSONResponse(await checkouts.create_product(self.store, name, price_amount, stock), 201)

    async def get_product(self, request: Request) -> JSONResponse:
        product_id = _path_key(request, "product_id", "product")
        return JSONResponse(await checkouts.find_product(self.store, product_id))

    # --- checkouts ---------------------------------------------------------------------------------------

    async def create_checkout(self, request: Request) -> JSONResponse:
        product_id, customer_email = new_checkout_fields(await json_body(request))
        checkout = await checkouts.create_checkout(self.store, product_id, customer_email)
        return JSONResponse(checkout, 201)

    async def get_checkout(self, request: Request) -> JSONResponse:
        client_secret = _path_key(request, "client_secret", "checkout")
        return JSONResponse(await checkouts.find_checkout(self.store, client_secret))

    async def update_checkout(self, request: Request) -> JSONResponse:
        client_secret = _path_key(request, "client_secret", "checkout")
        changes = customer_changes(await json_body(request))
        return JSONResponse(await checkouts.update_checkout(self.store, client_secret, changes))

    async def confirm_checkout(self, request: Request) -> JSONResponse:
        client_secret = _path_key(request, "client_secret", "checkout")
        changes, confirmation_token_id = confirm_fields(await json_body(request, optional=True))
        checkout = await checkouts.confirm_checkout(self.store, client_secret, changes, confirmation_token_id)
        self.jobs.wake()
        return JSONResponse(checkout)

    # --- orders ------------------------------------------------------------------------------------------

    async def list_orders(self, request: Request) -> JSONResponse:
        checkout_id, product_id, page, limit = order_query(request.query_params)
        return JSONResponse(await orders.list_orders(self.store, checkout_id, product_id, page, limit))

    # --- webhooks ----------------------------------------------------------------------------------------

    async def create_endpoint(self, request: Request) -> JSONResponse:
        url, events, secret, body_format = endpoint_fields(await json_body(request))
        return JSONResponse(await webhooks.create_endpoint(self.store, url, events, secret, body_format), 201)

    async def delete_endpoint(self, request: Request) -> Response:
        await webhooks.delete_endpoint(self.store, _path_key(request, "endpoint_id", "webhook endpoint"))
        return Response(status_code=204)

    async def stripe_webhook(self, request: Request) -> JSONResponse:
        """Stripe's calls: verified, recorded once by event id, then settled by the job worker."""
        event = stripe_events.verified_event(
            await request.body(), request.headers.get("stripe-signature"), self.stripe_secret
        )
        if await stripe_events.record_event(self.store, event):
            self.jobs.wake()
        return JSONResponse({"received": True})


async def _removed_client_create(_request: Request) -> JSONResponse:
    """``POST /v1/checkouts/client/``, which Polar removed: its server answers 405 there, as here."""
    return JSONResponse({"detail": "Method Not Allowed"}, 405, headers={"Allow": "GET, PATCH"})


def _path_key(request: Request, name: str, kind: str) -> str:
    """An id or client secret from the path; one no store could hold is a 404 like any unknown one."""
    key = str(request.path_params[name])
    if not key or len(key) > MAX_ID_LENGTH:
        raise resource_not_found(kind, key)
    return key
