"""JSON a client sent, parsed as strictly as pydantic's parser (jiter) reads it in the systems the shop stands in for.

Python's ``json`` module accepts ``NaN`` and ``Infinity``, turns ``1e400`` into infinity, keeps a lone UTF-16
surrogate (``"\\ud800"``) as a string no encoder can write back, and raises ``RecursionError``, not
``ValueError``, on deep nesting. :func:`parse_json` refuses all of these with :class:`InvalidJsonError` (a
``ValueError``, like every other decode error), so a handler answers its usual 4xx and never stores or echoes a
value it cannot serialize. Nesting is bounded at jiter's recursion limit.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 200  # jiter's recursion limit: pydantic refuses deeper JSON as json_invalid


class InvalidJsonError(ValueError):
    """JSON that parses in Python but that a strict parser refuses."""


def parse_json(raw: bytes | str) -> Any:
    """The value of ``raw``; raise ``ValueError`` for malformed, non-finite, over-deep or unencodable JSON."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise InvalidJsonError("recursion limit exceeded") from None
    _check_nesting_and_text(value)
    return value


def _refuse_constant(name: str) -> float:
    raise InvalidJsonError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise InvalidJsonError(f"number out of range: {text[:40]}")
    return number


def _check_nesting_and_text(value: Any) -> None:
    pending = [(value, 1)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, str):
            _check_text(current)
        elif isinstance(current, (dict, list)):
            if depth > MAX_DEPTH:
                raise InvalidJsonError("recursion limit exceeded")
            if isinstance(current, dict):
                for key in current:
                    _check_text(key)
                children = current.values()
            else:
                children = current
            pending.extend((child, depth + 1) for child in children)


def _check_text(text: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:
        raise InvalidJsonError("lone surrogate in a string") from None
