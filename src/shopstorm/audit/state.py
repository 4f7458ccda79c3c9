"""The shop as the audit sees it: where it started (the baseline) and what it holds after the load (the state).

Targets translate their API into this one model of items with stock, users with credit, and orders with lines,
a total, a paid flag and, where the shop shows them, the payments charged for the order. The baseline also says
which parts of the model the shop has: a storefront has no credit accounts, and its catalogue may hold products
the seed never saw; a shop that shows its shoppers a confirmation page must never take money without showing it.
An entity whose state could not be read (an error, a timeout, garbage instead of the
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
    payments: tuple[int, ...] | None = None  # amounts charged for the order; None when the shop does not show them


@dataclass
class Baseline:
    """What the seed put in the shop: stock per item, credit per user, and orders made before the load."""

    stock: dict[str, int] = field(default_factory=dict)
    credit: dict[str, int] = field(default_factory=dict)
    orders: dict[str, str] = field(default_factory=dict)  # order id → user id
    credit_tracked: bool = True  # False: the shop has no credit accounts (a storefront's card payments)
    all_items_seeded: bool = True  # False: shoppers may buy products the seed did not see; those go unchecked
    confirmation_required: bool = False  # True: a paid order must have been shown to its shopper as paid


@dataclass
class ShopState:
    items: dict[str, ItemState] = field(default_factory=dict)
    users: dict[str, UserState] = field(default_factory=dict)
    orders: dict[str, OrderState] = field(default_factory=dict)
    unreadable: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, id) → reason
    warnings: list[str] = field(default_factory=list)  # what the read found odd but not wrong (shapes, cross-checks)
