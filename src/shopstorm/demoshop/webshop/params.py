"""Path parameters of the demo shop's APIs, taken as strings and validated here.

Routes declare every parameter as a plain string so that ``/stock/add/1/abc`` reaches a handler instead of
falling through to a bare 404. These functions turn a raw value into an int or an id, or raise an
:class:`~shopstorm.demoshop.core.errors.ApiError`: 400 for a malformed, negative, zero or oversized number,
404 for an id that cannot exist in the store (so it is reported like any unknown id).
"""

from __future__ import annotations

from starlette.requests import Request

from shopstorm.demoshop.core.errors import ApiError

# A single path parameter (amount, price, count) may not exceed this; stored sums stay far from overflow.
MAX_PARAMETER = 10**9
MAX_ID_LENGTH = 200
# batch_init creates this many entities at most in one request.
MAX_BATCH = 1_000_000


def _raw(request: Request, name: str) -> str:
    return str(request.path_params[name])


def _number(request: Request, name: str, minimum: int, maximum: int = MAX_PARAMETER) -> int:
    raw = _raw(request, name)
    digits = raw[1:] if raw.startswith("-") else raw
    if not digits.isascii() or not digits.isdigit():
        raise ApiError(400, f"{name} must be an integer, got {raw[:40]!r}")
    if len(digits.lstrip("0")) > len(str(maximum)):  # int() refuses thousands of digits; such a value is out anyway
        bound = f"at least {minimum}" if raw.startswith("-") else f"at most {maximum}"
        raise ApiError(400, f"{name} must be {bound}, got {raw[:40]}…")
    value = int(raw)
    if value < minimum:
        raise ApiError(400, f"{name} must be at least {minimum}, got {value}")
    if value > maximum:
        raise ApiError(400, f"{name} must be at most {maximum}, got {value}")
    return value


def positive(request: Request, name: str) -> int:
    """An amount, quantity or count: an integer of at least 1."""
    return _number(request, name, 1)


def non_negative(request: Request, name: str) -> int:
    """A price or starting balance: an integer of at least 0."""
    return _number(request, name, 0)


def batch_size(request: Request, name: str) -> int:
    """How many entities a ``batch_init`` creates: at least 1, at most :data:`MAX_BATCH`."""
    return _number(request, name, 1, MAX_BATCH)


def entity_id(request: Request, name: str, kind: str) -> str:
    """An item, user or order id; one that no store could hold answers 404 like any unknown id."""
    raw = _raw(request, name)
    if not raw or len(raw) > MAX_ID_LENGTH or not raw.isprintable():
        raise ApiError(404, f"{kind} {raw[:40]!r} not found")
    return raw
