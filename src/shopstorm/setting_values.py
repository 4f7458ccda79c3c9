"""Setting values: one parser per kind of value, for every source alike.

Each parser takes a string (an environment variable, a command-line flag) or a native TOML value and returns the
typed value, or raises ValueError with a short reason; :mod:`shopstorm.settings` adds which setting and which
source it was, so a bad value is one line and exit code 2 wherever it came from.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


def parse_positive_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"must be a positive integer, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"must be a positive integer, got {value!r}") from None
    if number < 1:
        raise ValueError(f"must be a positive integer, got {value!r}")
    return number


def parse_non_negative_int(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"must be a whole number ≥ 0, got {value!r}") from None
    if number < 0:
        raise ValueError(f"must be a whole number ≥ 0, got {value!r}")
    return number


def parse_positive_float(value: Any) -> float:
    """A finite number above 0: ``nan`` or ``inf`` would make a run that never ends or never starts."""
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"must be a positive number, got {value!r}") from None
    if not 0 < number < math.inf:
        raise ValueError(f"must be a finite positive number, got {value!r}")
    return number


def parse_seconds(value: Any) -> float:
    """A positive number of seconds, at most :data:`MAX_SECONDS`."""
    seconds = parse_positive_float(value)
    if seconds > MAX_SECONDS:
        raise ValueError(f"must be at most {MAX_SECONDS} seconds (30 days), got {value!r}")
    return seconds


def parse_port(value: Any) -> int:
    """A TCP port, 1 to 65535."""
    port = parse_non_negative_int(value)
    if not 1 <= port <= 65535:
        raise ValueError(f"must be a port from 1 to 65535, got {value!r}")
    return port


def parse_port_or_zero(value: Any) -> int:
    """A TCP port, or 0 for a free one."""
    port = parse_non_negative_int(value)
    if port > 65535:
        raise ValueError(f"must be a port from 1 to 65535, or 0 for a free one, got {value!r}")
    return port


MAX_SECONDS = 30 * 24 * 3600  # the longest duration a setting may give: 30 days
_TIMESPAN = re.compile(r"^(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?$")


def parse_timespan(value: Any) -> int:
    """Seconds from ``90``, ``90s``, ``1m30s``, ``2h`` (Locust's ``-t`` forms), 1 s to 30 days."""
    text = str(value).strip().lower()
    digits = text.isascii() and text.isdigit()
    match = None if digits else _TIMESPAN.fullmatch(text)
    if not text or not (digits or match):
        raise ValueError(f"must be a duration like 30s, 1m or 1h30m, got {value!r}")
    try:
        if match is None:
            seconds = int(text)
        else:
            seconds = int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60 + int(match["s"] or 0)
    except ValueError:  # more digits than Python converts to an int
        seconds = MAX_SECONDS + 1
    if seconds < 1:
        raise ValueError(f"must be at least 1s, got {value!r}")
    if seconds > MAX_SECONDS:
        raise ValueError(f"must be at most 30 days ({MAX_SECONDS}s), got {value!r}")
    return seconds


_HOST_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?", re.IGNORECASE)  # "_" for compose service names


def _is_host(host: str) -> bool:
    """An IP address, or a DNS name (internationalized names included) whose labels a resolver accepts."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        name = host.removesuffix(".").encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return all(_HOST_LABEL.fullmatch(label) for label in name.split("."))


def parse_base_url(value: Any) -> str:
    """An absolute http(s) URL with a valid host and port, without query or fragment; trailing slashes are dropped."""
    text = str(value).strip()
    if not text.isprintable() or any(char.isspace() for char in text):
        raise ValueError(f"must be an http:// or https:// URL, got {value!r} (spaces or unprintable characters)")
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
    except ValueError as error:  # an unclosed IPv6 bracket
        raise ValueError(f"is not a URL ({error}): {value!r}") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host, got {value!r}")
    if not _is_host(hostname):
        raise ValueError(f"has an invalid host name {hostname!r}: {value!r}")
    try:
        if parts.port == 0:
            raise ValueError
    except ValueError:
        raise ValueError(f"has a malformed port: {value!r}") from None
    if parts.query or parts.fragment:
        raise ValueError(f"must not have a query or fragment, got {value!r}")
    return text.rstrip("/")


def parse_think_time(value: Any) -> tuple[float, float]:
    """``1-3``, ``1,3`` or ``[1, 3]`` seconds; ``0`` for no think time; at most 30 days."""
    is_list = isinstance(value, list | tuple)
    parts = [str(v) for v in value] if is_list else re.split(r"\s*[-,]\s*", str(value).strip())
    try:
        bounds = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"must be seconds as MIN-MAX (e.g. 1-3) or one number, got {value!r}") from None
    if len(bounds) == 1:
        bounds = bounds * 2
    if len(bounds) != 2 or not 0 <= bounds[0] <= bounds[1] <= MAX_SECONDS:
        raise ValueError(f"must be seconds as MIN-MAX with 0 ≤ MIN ≤ MAX ≤ 30 days, got {value!r}")
    return bounds[0], bounds[1]


def parse_name_list(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    names = tuple(str(item).strip() for item in items if str(item).strip())
    if not names:
        raise ValueError("must name at least one journey")
    return names


def parse_weights(value: Any) -> dict[str, int]:
    """``checkout_one=40,admin_restock=0`` or a TOML table ``{checkout_one = 40}``."""
    if isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        items = value if isinstance(value, list | tuple) else str(value).split(",")
        pairs = []
        for item in items:
            name, sep, weight = str(item).partition("=")
            if not sep or not name.strip():
                raise ValueError(f"must be NAME=WEIGHT, got {item!r}")
            pairs.append((name.strip(), weight))
    weights: dict[str, int] = {}
    for name, weight in pairs:
        try:
            weights[str(name)] = parse_non_negative_int(weight)
        except ValueError:
            raise ValueError(f"weight of {name!r} must be a whole number ≥ 0, got {weight!r}") from None
    return weights


def parse_choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return text

    return parse


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def parse_fraction(value: Any) -> float:
    try:
        number = float(str(value).strip().rstrip("%")) / (100 if str(value).strip().endswith("%") else 1)
    except ValueError:
        raise ValueError(f"must be a fraction from 0 to 1 (or a percentage), got {value!r}") from None
    if not 0 <= number <= 1:
        raise ValueError(f"must be a fraction from 0 to 1 (or a percentage), got {value!r}")
    return number


_STAGE = re.compile(r"^\s*(?P<span>[0-9hms]+)\s*:\s*(?P<rate>[0-9.]+)\s*$")


@dataclass(frozen=True)
class Stage:
    """One ramp of the open model: reach ``target_rate`` journeys per second over ``seconds``."""

    seconds: float
    target_rate: float
    text: str  # as written, e.g. "30s:10"


def parse_stages(value: Any) -> tuple[Stage, ...]:
    """``30s:10,1m:50`` → stages; raises ValueError naming the bad part."""
    stages = []
    for part in str(value).split(","):
        match = _STAGE.match(part)
        if not match:
            raise ValueError(f"stage {part.strip()!r} must be DURATION:RATE, e.g. 30s:10")
        rate = float(match["rate"])
        if not math.isfinite(rate) or rate < 0:
            raise ValueError(f"stage {part.strip()!r} has a bad rate")
        stages.append(Stage(float(parse_timespan(match["span"])), rate, part.strip()))
    return tuple(stages)


def stages_text(stages: tuple[Stage, ...]) -> str:
    """The stages as written: ``30s:10,1m:50``."""
    return ",".join(stage.text for stage in stages)


def parse_text_table(value: Any) -> dict[str, Any]:
    """A table of names to texts or true/false (the ``[storefront]`` selectors and step URLs, checked by their
    target), or JSON text of such a table from the environment."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            raise ValueError("must be a table of selectors and URLs (JSON text in the environment)") from None
    if not isinstance(value, Mapping) or not all(isinstance(v, str | bool) for v in value.values()):
        raise ValueError(f"must be a table of names to texts, got {str(value)[:80]!r}")
    return {str(key): v for key, v in value.items()}


def parse_text(value: Any) -> str:
    return str(value)


def parse_texts(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())
