"""The webshop API: the three services ``/stock``, ``/payment`` and ``/orders`` of the webshop benchmark.

This module maps each route to a handler that validates its path parameters (:mod:`params`), calls the store
work (:mod:`seeding`, :mod:`~shopstorm.demoshop.core.balances`, :mod:`orders`, :mod:`checkout`) and shapes the
answer. Ids are strings; new ids are uuid4 hex. Another API face of the demo shop is another package like this
one, mounted by :mod:`shopstorm.demoshop.app`.

Two answer styles (``shopstorm shop --webshop-answers``):

- ``reference`` (the default) answers exactly as the course's reference implementation (three Flask services
  on Redis behind nginx) does: creates and reads answer JSON with 200 (``{"item_id"}``, ``{"stock", "price"}``,
  batch inits ``{"msg"}``), state changes answer 200 with a plain-text body (``Item: <id> stock updated to: 5``,
  ``Checkout successful``), and refusals, unknown ids and unknown routes answer Flask's HTML error page
  (``abort(400, "Out of stock on item_id: <id>")``; 404/405 for a route or method it lacks). The older
  benchmark's ``DELETE /orders/removeItem`` and one-unit ``addItem`` are kept, answering in the same style.
- ``json`` answers JSON everywhere (creates 201, refusals ``{"error", "reason"}``, unknown ids 404): the style
  of many student implementations, kept so the tool is tested against both.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from shopstorm.demoshop.core import balances
from shopstorm.demoshop.core.errors import ApiError, flask_error_page, not_found
from shopstorm.demoshop.core.faults import FaultSwitches
from shopstorm.demoshop.core.store import Store, items, users
from shopstorm.demoshop.webshop import checkout, orders, params, seeding

WebshopAnswers = Literal["reference", "json"]
ANSWER_STYLES: tuple[WebshopAnswers, ...] = ("reference", "json")
WEBSHOP_PREFIXES = ("/stock/", "/payment/", "/orders/")


def _text(body: str) -> Response:
    """A Flask view's ``Response("...", status=200)``: text under Flask's default mimetype, text/html."""
    return Response(body, media_type="text/html")


Handler = Callable[["WebshopApi", Request], Awaitable[Response]]


def _answers_like_the_reference(handler: Handler) -> Handler:
    """In the reference style, a refusal or unknown id is Flask's 400 page (its ``abort(400, …)``), a 500 its
    500 page; the JSON style lets the app's JSON error handlers answer."""

    @functools.wraps(handler)
    async def run(self: WebshopApi, request: Request) -> Response:
        if self.answers == "json":
            return await handler(self, request)
        try:
            return await handler(self, request)
        except ApiError as error:
            return flask_error_page(500 if error.status >= 500 else 400, None if error.status >= 500 else error.message)

    return run


class WebshopApi:
    """Handlers of the webshop API over one store, with the process's fault switches and answer style."""

    def __init__(self, store: Store, faults: FaultSwitches, answers: WebshopAnswers = "reference") -> None:
        self.store = store
        self.faults = faults
        self.answers = answers

    def _answer(self, body: dict[str, Any], status: int = 200, text: str | None = None) -> Response:
        """JSON ``body`` (with ``status``) in the JSON style; in the reference style ``text`` when given (a state
        change), else ``body`` as JSON with 200."""
        if self.answers == "json":
            return JSONResponse(body, status_code=status)
        return _text(text) if text is not None else JSONResponse(body)

    def routes(self) -> list[BaseRoute]:
        """The three services, each mounted under its prefix."""
        stock = [
            Route("/item/create/{price}", self.create_item, methods=["POST"]),
            Route("/batch_init/{n}/{starting_stock}/{item_price}", self.batch_init_items, methods=["POST"]),
            Route("/find/{item_id}", self.find_item, methods=["GET"]),
            Route("/add/{item_id}/{amount}", self.add_stock, methods=["POST"]),
            Route("/subtract/{item_id}/{amount}", self.subtract_stock, methods=["POST"]),
        ]
        payment = [
            Route("/create_user", self.create_user, methods=["POST"]),
            Route("/batch_init/{n}/{starting_money}", self.batch_init_users, methods=["POST"]),
            Route("/find_user/{user_id}", self.find_user, methods=["GET"]),
            Route("/add_funds/{user_id}/{amount}", self.add_funds, methods=["POST"]),
            Route("/pay/{user_id}/{amount}", self.pay, methods=["POST"]),
        ]
        order = [
            Route("/create/{user_id}", self.create_order, methods=["POST"]),
            Route("/batch_init/{n}/{n_items}/{n_users}/{item_price}", self.batch_init_orders, methods=["POST"]),
            Route("/find/{order_id}", self.find_order, methods=["GET"]),
            Route("/addItem/{order_id}/{item_id}/{quantity}", self.add_item, methods=["POST"]),
            Route("/addItem/{order_id}/{item_id}", self.add_item, methods=["POST"]),
            Route("/removeItem/{order_id}/{item_id}", self.remove_item, methods=["DELETE"]),
            Route("/checkout/{order_id}", self.checkout, methods=["POST"]),
        ]
        return [
            Mount("/stock", routes=stock),
            Mount("/payment", routes=payment),
            Mount("/orders", routes=order),
        ]

    # --- stock -------------------------------------------------------------------------------------------

    @_answers_like_the_reference
    async def create_item(self, request: Request) -> Response:
        item_id = await seeding.create_item(self.store, params.non_negative(request, "price"))
        return self._answer({"item_id": item_id}, 201)

    @_answers_like_the_reference
    async def batch_init_items(self, request: Request) -> Response:
        count = params.batch_size(request, "n")
        stock = params.non_negative(request, "starting_stock")
        price = params.non_negative(request, "item_price")
        item_ids = await seeding.seed_items(self.store, count, stock, price)
        if self.answers == "reference":
            return JSONResponse({"msg": "Batch init for stock successful"})
        return self._answer({"msg": f"{count} items with stock {stock} at price {price}", "item_ids": item_ids})

    @_answers_like_the_reference
    async def find_item(self, request: Request) -> Response:
        item_id = params.entity_id(request, "item_id", "item")
        async with self.store.read() as conn:
            item = (await conn.execute(select(items).where(items.c.id == item_id))).first()
        if item is None:
            raise not_found("item", item_id)
        if self.answers == "reference":
            return JSONResponse({"stock": int(item.stock), "price": int(item.price)})
        return self._answer({"item_id": item.id, "stock": int(item.stock), "price": int(item.price)})

    @_answers_like_the_reference
    async def add_stock(self, request: Request) -> Response:
        return await self._change_stock(request, sign=1)

    @_answers_like_the_reference
    async def subtract_stock(self, request: Request) -> Response:
        return await self._change_stock(request, sign=-1)

    async def _change_stock(self, request: Request, sign: int) -> Response:
        item_id = params.entity_id(request, "item_id", "item")
        amount = params.positive(request, "amount")
        stock = await balances.change_counter(self.store, self.faults, balances.STOCK, item_id, sign * amount)
        return self._answer({"item_id": item_id, "stock": stock}, text=f"Item: {item_id} stock updated to: {stock}")

    # --- payment -----------------------------------------------------------------------------------------

    @_answers_like_the_reference
    async def create_user(self, _request: Request) -> Response:
        return self._answer({"user_id": await seeding.create_user(self.store)}, 201)

    @_answers_like_the_reference
    async def batch_init_users(self, request: Request) -> Response:
        count = params.batch_size(request, "n")
        credit = params.non_negative(request, "starting_money")
        user_ids = await seeding.seed_users(self.store, count, credit)
        if self.answers == "reference":
            return JSONResponse({"msg": "Batch init for users successful"})
        return self._answer({"msg": f"{count} users with credit {credit}", "user_ids": user_ids})

    @_answers_like_the_reference
    async def find_user(self, request: Request) -> Response:
        user_id = params.entity_id(request, "user_id", "user")
        async with self.store.read() as conn:
            credit = await conn.scalar(select(users.c.credit).where(users.c.id == user_id))
        if credit is None:
            raise not_found("user", user_id)
        return self._answer({"user_id": user_id, "credit": int(credit)})

    @_answers_like_the_reference
    async def add_funds(self, request: Request) -> Response:
        user_id = params.entity_id(request, "user_id", "user")
        amount = params.positive(request, "amount")
        credit = await balances.change_counter(self.store, self.faults, balances.CREDIT, user_id, amount)
        return self._answer({"done": True, "credit": credit}, text=f"User: {user_id} credit updated to: {credit}")

    @_answers_like_the_reference
    async def pay(self, request: Request) -> Response:
        user_id = params.entity_id(request, "user_id", "user")
        amount = params.positive(request, "amount")
        credit = await balances.change_counter(self.store, self.faults, balances.CREDIT, user_id, -amount)
        return self._answer({"user_id": user_id, "credit": credit}, text=f"User: {user_id} credit updated to: {credit}")

    # --- orders ------------------------------------------------------------------------------------------

    @_answers_like_the_reference
    async def create_order(self, request: Request) -> Response:
        user_id = params.entity_id(request, "user_id", "user")
        return self._answer({"order_id": await orders.create_order(self.store, user_id)}, 201)

    @_answers_like_the_reference
    async def batch_init_orders(self, request: Request) -> Response:
        count = params.batch_size(request, "n")
        item_count = params.batch_size(request, "n_items")
        user_count = params.batch_size(request, "n_users")
        price = params.non_negative(request, "item_price")
        order_ids = await seeding.seed_orders(self.store, count, item_count, user_count, price)
        if self.answers == "reference":
            return JSONResponse({"msg": "Batch init for orders successful"})
        summary = f"{count} orders over {item_count} items and {user_count} users"
        return self._answer({"msg": summary, "order_ids": order_ids})

    @_answers_like_the_reference
    async def find_order(self, request: Request) -> Response:
        order_id = params.entity_id(request, "order_id", "order")
        return self._answer(await orders.find_order(self.store, order_id))

    @_answers_like_the_reference
    async def add_item(self, request: Request) -> Response:
        order_id = params.entity_id(request, "order_id", "order")
        item_id = params.entity_id(request, "item_id", "item")
        quantity = params.positive(request, "quantity") if "quantity" in request.path_params else 1
        total_cost = await orders.add_line(self.store, order_id, item_id, quantity)
        text = f"Item: {item_id} added to: {order_id} price updated to: {total_cost}"
        return self._answer({"order_id": order_id, "total_cost": total_cost}, text=text)

    @_answers_like_the_reference
    async def remove_item(self, request: Request) -> Response:
        order_id = params.entity_id(request, "order_id", "order")
        item_id = params.entity_id(request, "item_id", "item")
        total_cost = await orders.remove_line(self.store, order_id, item_id)
        text = f"Item: {item_id} removed from: {order_id} price updated to: {total_cost}"
        return self._answer({"order_id": order_id, "total_cost": total_cost}, text=text)

    @_answers_like_the_reference
    async def checkout(self, request: Request) -> Response:
        order_id = params.entity_id(request, "order_id", "order")
        return self._answer(await checkout.checkout(self.store, self.faults, order_id), text="Checkout successful")
