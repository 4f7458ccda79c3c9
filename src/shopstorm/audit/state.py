"""The shop as the audit sees it: where it started (the baseline) and what it holds after the load (the state).

Targets translate their API into this one model of items with stock, users with credit, and orders with lines,
a total and a paid flag. An entity whose state could not be read (an error, a timeout, garbage instead of the
expected fields) is kept in ``unreadable`` with the reason: the audit reports it, it never counts as fine.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ItemState:
    stock: int
    price: int


@dataclass(frozen=True)
class UserState:
    credit: int


@dataclass(frozen=True)
class OrderState:
    user_id: str
    paid: bool
    lines: tuple[tuple[str, int], ...]
    total: int


@dataclass
class Baseline:
    """What the seed put in the shop: stock per item, credit per user, and orders made before the load."""

    stock: dict[str, int] = field(default_factory=dict)
    credit: dict[str, int] = field(default_factory=dict)
    orders: dict[str, str] = field(default_factory=dict)  # order id → user id


@dataclass
class ShopState:
    items: dict[str, ItemState] = field(default_factory=dict)
    users: dict[str, UserState] = field(default_factory=dict)
    orders: dict[str, OrderState] = field(default_factory=dict)
    unreadable: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, id) → reason
