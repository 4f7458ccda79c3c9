"""An order's state as its details page shows it to the shopper, for the audit of a shop with no JSON endpoint.

Saleor's ``templates/order/details.html`` (2018) shows the order's lines (``_ordered_items_table.html``: a product
link ``/products/<slug>-<id>/`` and ``x <quantity>`` per line), its total (``.order-details__total``) and, while
it is not fully paid, a link to ``/order/<token>/payment/``. So paid is "a confirmation without that link". A
line's item is its ``data-item`` where the page has one (the demo shop's), else the id ending its product link.
Charges are read only where the page lists them (``order_payments``, each ``[data-amount]``); otherwise
:attr:`OrderState.payments` is ``None`` and the audit reports "charged once" as not checked.
"""

from __future__ import annotations

import re

from shopstorm.audit.state import OrderState
from shopstorm.targets.pages import Page
from shopstorm.targets.storefront_profiles import Profile

_PRODUCT_ID = re.compile(r"-([0-9A-Za-z]+)/?$")
_QUANTITY = re.compile(r"x\s*(\d+)")
_AMOUNT = re.compile(r"-?\d+")


def order_page_state(page: Page, css: Profile) -> OrderState:
    """The order on its details page; ``ValueError`` when the page is not one (the audit calls it unreadable)."""
    if page.status != 200 or not page.all(css.confirmation):
        raise ValueError(f"page {page.path} is not an order's details page ({css.confirmation})")
    paid = not page.all(css.unpaid_marker) if css.unpaid_marker else bool(page.all(css.paid_marker))
    lines = tuple(_line(row) for row in page.all(css.order_line)) if css.order_line else ()
    total = _first_amount(page, css.order_total, "data-total")
    return OrderState("", paid, lines, total, _payments(page, css))


def _line(row: object) -> tuple[str, int]:
    item = row.get("data-item")  # type: ignore[attr-defined]
    if item is None:
        links = [a.get("href") or "" for a in row.iter("a")]  # type: ignore[attr-defined]
        found = next((m for m in map(_PRODUCT_ID.search, links) if m), None)
        if found is None:
            raise ValueError("an order line names no product")
        item = found.group(1)
    quantity = row.get("data-quantity")  # type: ignore[attr-defined]
    if quantity is None:
        texts = ((element.text or "").strip() for element in row.iter())  # type: ignore[attr-defined]
        found = next((m for m in map(_QUANTITY.fullmatch, texts) if m), None)
        if found is None:
            raise ValueError(f"the order line of {item} shows no quantity")
        quantity = found.group(1)
    return str(item), int(quantity)


def _first_amount(page: Page, selector: str, attribute: str) -> int:
    found = page.all(selector) if selector else []
    if not found:
        raise ValueError(f"page {page.path} shows no total ({selector or 'order_total is not set'})")
    raw = found[0].get(attribute)
    if raw is None:
        digits = _AMOUNT.search(found[0].text_content().replace(",", ""))
        raw = digits.group(0) if digits else None
    if raw is None:
        raise ValueError(f"page {page.path}: the total ({selector}) is not a number")
    return int(raw)


def _payments(page: Page, css: Profile) -> tuple[int, ...] | None:
    lists = page.all(css.order_payments) if css.order_payments else []
    if not lists:
        return None
    return tuple(int(row.get("data-amount")) for row in lists[0].iter() if row.get("data-amount") is not None)
