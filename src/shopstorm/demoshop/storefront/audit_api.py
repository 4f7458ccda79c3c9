"""The storefront's state as JSON, for audits: an order with its payments, and a customer's orders.

These reads are not pages: no CSRF cookie, JSON errors like the webshop API's (404 for an unknown token or
email). An audit uses them to check what a load run's shoppers saw against what the shop stored, e.g. that every
order whose confirmation was shown is paid and was charged exactly once.
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shopstorm.demoshop.core.errors import not_found
from shopstorm.demoshop.core.store import Store
from shopstorm.demoshop.storefront import purchases
from shopstorm.demoshop.storefront.accounts import customers, normalize_email


class StorefrontApi:
    """``/storefront/api/orders/<token>`` and ``/storefront/api/customers/<email>``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/storefront/api/orders/{token}", self.order, methods=["GET"]),
            Route("/storefront/api/customers/{email}", self.customer, methods=["GET"]),
        ]

    async def order(self, request: Request) -> JSONResponse:
        token = request.path_params["token"]
        audit = await purchases.order_audit(self.store, token)
        if audit is None:
            raise not_found("order", token)
        return JSONResponse(audit)

    async def customer(self, request: Request) -> JSONResponse:
        email = normalize_email(request.path_params["email"])
        async with self.store.read() as conn:
            if await conn.scalar(select(customers.c.email).where(customers.c.email == email)) is None:
                raise not_found("customer", email)
            tokens = await purchases.orders_of(conn, email)
        return JSONResponse({"email": email, "orders": tokens})
