"""Builds the demo shop's Starlette app: mounts each API face, ``/health``, JSON errors, the stall fault.

Each API face is a package with its own routes: the webshop benchmark's ``/stock``, ``/payment`` and
``/orders`` (:mod:`~shopstorm.demoshop.webshop.api`), the HTML storefront and its JSON reads
(:mod:`~shopstorm.demoshop.storefront.site`), and the Polar-like checkout API under ``/v1`` with its Stripe intake
(:mod:`~shopstorm.demoshop.checkout_api.api`). This module only puts them side by side on one port over one store.
The storefront's pages live under Saleor's paths (``/products/…``, ``/cart/``, ``/checkout/…``, ``/order/<token>/``),
beside the webshop API's ``/orders`` mount. The ``stall`` fault lives here as ASGI
middleware because it affects every response, whatever the API: a response ready inside a stall window is held
until the window ends. Optional basic auth (:mod:`~shopstorm.demoshop.core.basic_auth`) guards every route but
``/health`` and the checkout API, which has its own bearer token. Every request body, on every route, is capped
(:mod:`~shopstorm.demoshop.core.body_limit`): a larger one is answered 413 and never read whole.
"""

from __future__ import annotations

import asyncio
import time

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopstorm.demoshop.checkout_api.api import CheckoutApi
from shopstorm.demoshop.core.basic_auth import BasicAuthCredentials, BasicAuthMiddleware
from shopstorm.demoshop.core.body_limit import MAX_BODY_BYTES, BodyLimitMiddleware
from shopstorm.demoshop.core.errors import (
    ApiError,
    api_error_response,
    http_error_response,
    internal_error_response,
)
from shopstorm.demoshop.core.faults import FaultSwitches, stall_remaining
from shopstorm.demoshop.core.store import Store
from shopstorm.demoshop.storefront.site import Storefront
from shopstorm.demoshop.webshop.api import WEBSHOP_PREFIXES, WebshopAnswers, WebshopApi


class StallMiddleware:
    """``stall`` fault: hold every response that is ready inside a stall window until the window ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_after_stall(message: Message) -> None:
            if message["type"] == "http.response.start":
                held_for = stall_remaining(time.time())
                if held_for > 0:
                    await asyncio.sleep(held_for)
            await send(message)

        await self.app(scope, receive, send_after_stall)


def build_app(
    store: Store,
    faults: FaultSwitches,
    basic_auth: BasicAuthCredentials | None = None,
    checkout_api: CheckoutApi | None = None,
    webshop_answers: WebshopAnswers = "reference",
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Starlette:
    """The demo shop's ASGI app over one prepared store, with these faults switched on.

    Without ``checkout_api`` the checkout API has no token and no secret: it refuses every request.
    """
    checkout_api = checkout_api or CheckoutApi(store, faults)

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "faults": faults.names})

    routes = [
        Route("/health", health, methods=["GET"]),
        *Storefront(store, faults).routes(),
        *WebshopApi(store, faults, webshop_answers).routes(),
        *checkout_api.routes(),
    ]
    middleware = [Middleware(BodyLimitMiddleware, limit=max_body_bytes)]
    if faults.stall:
        middleware.append(Middleware(StallMiddleware))
    if basic_auth is not None:
        middleware.append(Middleware(BasicAuthMiddleware, credentials=basic_auth))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            ApiError: api_error_response,
            HTTPException: http_error_response,
            Exception: internal_error_response,
        },
    )
    # the reference implementation is Flask: its unknown routes and methods answer Flask's HTML 404/405 pages
    app.state.flask_pages_under = WEBSHOP_PREFIXES if webshop_answers == "reference" else ()
    return app
