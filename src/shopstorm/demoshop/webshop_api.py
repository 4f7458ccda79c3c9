"""The webshop API: the three services ``/stock``, ``/payment`` and ``/orders`` of the webshop benchmark.

This module maps each route to a handler that validates its path parameters (:mod:`params`), calls the store
work (:mod:`seeding`, :mod:`balances`, :mod:`orders`, :mod:`checkout`) and shapes the JSON answer with the
exact status codes the benchmark expects. Ids are strings; new ids are uuid4 hex. Another API family of the
demo shop is another module like this one, mounted by :mod:`shopstorm.demoshop.app`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from shopstorm.demoshop import balances, checkout, orders, params, seeding
from shopstorm.demoshop.errors import not_found
from shopstorm.demoshop.faults import FaultSwitches
from shopstorm.demoshop.store import Store, items, users


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


class WebshopApi:
    """Handlers of the webshop API over one store, with the process's fault switches."""

    def __init__(self, store: Store, faults: FaultSwitches) -> None:
        self.store = store
        self.faults = faults

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

    async def create_item(self, request: Request) -> JSONResponse:
        item_id = await seeding.create_item(self.store, params.non_negative(request, "price"))
        return _json({"item_id": item_id}, 201)

    async def batch_init_items(self, request: Request) -> JSONResponse:
        count = params.batch_size(request, "n")
        stock = params.non_negative(request, "starting_stock")
        price = params.non_negative(request, "item_price")
        item_ids = await seeding.seed_items(self.store, count, stock, price)
        return _json({"msg": f"{count} items with stock {stock} at price {price}", "item_ids": item_ids})

    async def find_item(self, request: Request) -> JSONResponse:
        item_id = params.entity_id(request, "item_id", "item")
        async with self.store.read() as conn:
            item = (await conn.execute(select(items).where(items.c.id == item_id))).first()
        if item is None:
            raise not_found("item", item_id)
        return _json({"item_id": item.id, "stock": int(item.stock), "price": int(item.price)})

    async def add_stock(self, request: Request) -> JSONResponse:
        return await self._change_stock(request, sign=1)

    async def subtract_stock(self, request: Request) -> JSONResponse:
        return await self._change_stock(request, sign=-1)

    async def _change_stock(self, request: Request, sign: int) -> JSONResponse:
        item_id = params.entity_id(request, "item_id", "item")
        amount = params.positive(request, "amount")
        stock = await balances.change_counter(self.store, self.faults, balances.STOCK, item_id, sign * amount)
        return _json({"item_id": item_id, "stock": stock})

    # --- payment -----------------------------------------------------------------------------------------

    async def create_user(self, _request: Request) -> JSONResponse:
        return _json({"user_id": await seeding.create_user(self.store)}, 201)

    async def batch_init_users(self, request: Request) -> JSONResponse:
        count = params.batch_size(request, "n")
        credit = params.non_negative(request, "starting_money")
        user_ids = await seeding.seed_users(self.store, count, credit)
        return _json({"msg": f"{count} users with credit {credit}", "user_ids": user_ids})

    async def find_user(self, request: Request) -> JSONResponse:
        user_id = params.entity_id(request, "user_id", "user")
        async with self.store.read() as conn:
            credit = await conn.scalar(select(users.c.credit).where(users.c.id == user_id))
        if credit is None:
            raise not_found("user", user_id)
        return _json({"user_id": user_id, "credit": int(credit)})

    async def add_funds(self, request: Request) -> JSONResponse:
        user_id = params.entity_id(request, "user_id", "user")
        amount = params.positive(request, "amount")
        credit = await balances.change_counter(self.store, self.faults, balances.CREDIT, user_id, amount)
        return _json({"done": True, "credit": credit})

    async def pay(self, request: Request) -> JSONResponse:
        user_id = params.entity_id(request, "user_id", "user")
        amount = params.positive(request, "amount")
        credit = await balances.change_counter(self.store, self.faults, balances.CREDIT, user_id, -amount)
        return _json({"user_id": user_id, "credit": credit})

    # --- orders ------------------------------------------------------------------------------------------

    async def create_order(self, request: Request) -> JSONResponse:
        user_id = params.entity_id(request, "user_id", "user")
        return _json({"order_id": await orders.create_order(self.store, user_id)}, 201)

    async def batch_init_orders(self, request: Request) -> JSONResponse:
        count = params.batch_size(request, "n")
        item_count = params.batch_size(request, "n_items")
        user_count = params.batch_size(request, "n_users")
        price = params.non_negative(request, "item_price")
        order_ids = await seeding.seed_orders(self.store, count, item_count, user_count, price)
        return _json({"msg": f"{count} orders over {item_count} items and {user_count} users", "order_ids": order_ids})

    async def find_order(self, request: Request) -> JSONResponse:
        order_id = params.entity_id(request, "order_id", "order")
        return _json(await orders.find_order(self.store, order_id))

    async def add_item(self, request: Request) -> JSONResponse:
        order_id = params.entity_id(request, "order_id", "order")
        item_id = params.entity_id(request, "item_id", "item")
        quantity = params.positive(request, "quantity") if "quantity" in request.path_params else 1
        total_cost = await orders.add_line(self.store, order_id, item_id, quantity)
        return _json({"order_id": order_id, "total_cost": total_cost})

    async def remove_item(self, request: Request) -> JSONResponse:
        order_id = params.entity_id(request, "order_id", "order")
        item_id = params.entity_id(request, "item_id", "item")
        total_cost = await orders.remove_line(self.store, order_id, item_id)
        return _json({"order_id": order_id, "total_cost": total_cost})

    async def checkout(self, request: Request) -> JSONResponse:
        order_id = params.entity_id(request, "order_id", "order")
        return _json(await checkout.checkout(self.store, self.faults, order_id))
