"""An order's contents as shopstorm's own books say, the shop's reading only as a cross-check.

shopstorm itself put every line into every order it checks out (the seed's prepared orders, and each ``line`` /
``unline`` call in the ledger), so the audit trusts its books first: implementations shape an order's ``items``
differently (``[item_id, quantity]`` pairs, a flat list of item ids one entry per unit, objects) and ``paid`` as
a bool or a string, and a shape the audit cannot read must not turn a correct shop into a thousand violations.

- :func:`book_orders` folds the seed and the ledger into each order's lines, and says whether they are certain
  (no line change of that order had an unknown outcome).
- :func:`read_lines` and :func:`read_paid` read the shop's ``items`` and ``paid`` in every known shape.
- :func:`reconcile` builds the :class:`~shopstorm.audit.state.OrderState` the invariants check: lines and total
  from the books where certain, else from the shop; what disagrees or cannot be read becomes one warning per
  kind in the summary, never a violation on its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shopstorm.audit.ledger import Entry
from shopstorm.audit.state import OrderState

_ITEM_KEYS = ("item_id", "item", "id")
_QUANTITY_KEYS = ("quantity", "qty", "amount", "count", "units")
_TRUE, _FALSE = ("true", "1", "yes", "paid"), ("false", "0", "no", "unpaid")


@dataclass
class BookedOrder:
    """An order's lines (item id → units) as shopstorm put them in, and whether every change is known."""

    lines: Counter[str] = field(default_factory=Counter)
    certain: bool = True


def book_orders(seeded: Mapping[str, Iterable[tuple[str, int]]], entries: Iterable[Entry]) -> dict[str, BookedOrder]:
    """Every order's lines: the seeded ones, then the ledger's ``line`` (units added) and ``unline`` (the item's
    line removed) entries in the order they were made. A refused change changed nothing; an unknown one makes
    the order's lines uncertain."""
    books: dict[str, BookedOrder] = {}
    for order_id, lines in seeded.items():
        booked = books[order_id] = BookedOrder()
        for item_id, quantity in lines:
            booked.lines[str(item_id)] += int(quantity)
    changes = sorted((e for e in entries if e.kind in ("line", "unline")), key=lambda entry: entry.at)
    for entry in changes:
        booked = books.setdefault(entry.entity, BookedOrder())
        if entry.outcome == "unknown":
            booked.certain = False
        elif entry.outcome == "ok" and entry.kind == "line":
            booked.lines[entry.related] += entry.amount
        elif entry.outcome == "ok":
            booked.lines.pop(entry.related, None)
    return books


def read_lines(items: Any) -> Counter[str]:
    """An order's ``items`` as the shop shows them, in any known shape; ValueError when none fits."""
    lines: Counter[str] = Counter()
    if isinstance(items, dict):  # {item_id: quantity}
        items = list(items.items())
    if not isinstance(items, list):
        raise ValueError(f"'items' is not a list: {_sample(items)}")
    for line in items:
        if isinstance(line, str | int) and not isinstance(line, bool):  # one entry per unit
            lines[str(line)] += 1
        elif isinstance(line, list | tuple) and len(line) == 2:
            lines[str(line[0])] += _units(line[1])
        elif isinstance(line, dict):
            item = next((line[key] for key in _ITEM_KEYS if key in line), None)
            if item is None:
                raise ValueError(f"an 'items' entry names no item: {_sample(line)}")
            quantity = next((line[key] for key in _QUANTITY_KEYS if key in line), 1)
            lines[str(item)] += _units(quantity)
        else:
            raise ValueError(f"an 'items' entry is neither an id, a pair nor an object: {_sample(line)}")
    return +lines


def read_paid(value: Any) -> bool:
    """``paid`` as a bool, from a bool, 0/1 or a word ("true", "False"…); ValueError otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in (*_TRUE, *_FALSE):
        return value.strip().lower() in _TRUE
    raise ValueError(f"'paid' is not true or false: {_sample(value)}")


def _units(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"a quantity is not a whole number: {_sample(value)}")
    try:
        units = float(value)
    except ValueError:
        raise ValueError(f"a quantity is not a whole number: {_sample(value)}") from None
    if units != units or units in (float("inf"), float("-inf")) or units != int(units):
        raise ValueError(f"a quantity is not a whole number: {_sample(value)}")
    return int(units)


def _sample(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class OrderReading:
    """What the shop's order read said, each part possibly unreadable (None, with the reason)."""

    paid: bool
    lines: Counter[str] | None
    total: int | None
    lines_problem: str | None = None


@dataclass
class Reconciliation:
    """The orders the invariants check, and what the cross-check found (order id lists, for the warnings)."""

    orders: dict[str, OrderState] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    unreadable_shape: list[str] = field(default_factory=list)  # orders whose items the audit could not read
    differing: list[str] = field(default_factory=list)  # orders whose items or total differ from the books

    def warnings(self) -> list[str]:
        found = []
        if self.unreadable_shape:
            found.append(
                f"{len(self.unreadable_shape)} order reads had 'items' in a shape shopstorm cannot read "
                f"(first: order {self.unreadable_shape[0]}): their contents were taken from shopstorm's own books"
            )
        if self.differing:
            found.append(
                f"{len(self.differing)} orders read back with other items or total than shopstorm put in them "
                f"(first: order {self.differing[0]}): the audit used its own books"
            )
        return found


def reconcile(
    readings: Mapping[str, OrderReading],
    books: Mapping[str, BookedOrder],
    users: Mapping[str, str],
    prices: Mapping[str, int],
) -> Reconciliation:
    """Build the checked orders from the shop's readings, the books (lines) and the prices shopstorm knows.

    Lines come from the books when certain, else from the shop; the total is the books' lines at the known prices,
    else the shop's ``total_cost``. An order whose contents neither side can give is unreadable (with why)."""
    result = Reconciliation()
    for order_id, reading in readings.items():
        booked = books.get(order_id)
        if reading.lines_problem is not None:
            result.unreadable_shape.append(order_id)
        lines = booked.lines if booked is not None and booked.certain else reading.lines
        if lines is None:
            result.unreadable[order_id] = f"its contents are unknown: {reading.lines_problem or 'no items'}"
            continue
        if all(item_id in prices for item_id in lines):
            total = sum(prices[item_id] * units for item_id, units in lines.items())
        elif reading.total is not None:
            total = reading.total
        else:
            result.unreadable[order_id] = "its total is unknown: no 'total_cost' and an item of unknown price"
            continue
        booked_lines = booked is not None and booked.certain
        if booked_lines and (
            (reading.lines is not None and +reading.lines != +lines)
            or (reading.total is not None and reading.total != total)
        ):
            result.differing.append(order_id)
        user_id = users.get(order_id, "")
        result.orders[order_id] = OrderState(user_id, reading.paid, tuple(sorted(lines.items())), total)
    return result
