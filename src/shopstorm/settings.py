"""One settings object, its sources and their precedence.

A setting is read, highest first, from the command line, a ``SHOPSTORM_<NAME>`` environment variable (or one of
the seed suites' names, e.g. ``PT_NUM_CLIENTS``), the settings file (``shopstorm.toml``, or ``[tool.shopstorm]``
in ``pyproject.toml``), and finally its default. Every value goes through the same parser whatever its source,
so a bad value fails the same way everywhere: one line naming the setting, where it came from and what is
wrong (:class:`~shopstorm.errors.UsageError`, exit code 2), before any load starts.

:data:`FIELDS` is the single table of settings; the README's settings table is generated from it
(``python -m shopstorm.settings``).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shopstorm.errors import UsageError

# --- value parsers: each takes a str (env, CLI) or a native TOML value and returns the typed value ---------------


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
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"must be a positive number, got {value!r}") from None
    if not number > 0:
        raise ValueError(f"must be a positive number, got {value!r}")
    return number


_TIMESPAN = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def parse_timespan(value: Any) -> int:
    """Seconds from ``90``, ``90s``, ``1m30s``, ``2h`` (Locust's ``-t`` forms)."""
    text = str(value).strip().lower()
    if text.isdigit():
        seconds = int(text)
    else:
        match = _TIMESPAN.match(text)
        if not text or not match:
            raise ValueError(f"must be a duration like 30s, 1m or 1h30m, got {value!r}")
        seconds = int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60 + int(match["s"] or 0)
    if seconds < 1:
        raise ValueError(f"must be at least 1s, got {value!r}")
    return seconds


def parse_base_url(value: Any) -> str:
    """An absolute http(s) URL without query or fragment; trailing slashes are dropped."""
    text = str(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host, got {value!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ValueError(f"has a malformed port: {value!r}") from None
    if parts.query or parts.fragment:
        raise ValueError(f"must not have a query or fragment, got {value!r}")
    return text.rstrip("/")


def parse_think_time(value: Any) -> tuple[float, float]:
    """``1-3``, ``1,3`` or ``[1, 3]`` seconds; ``0`` for no think time."""
    is_list = isinstance(value, list | tuple)
    parts = [str(v) for v in value] if is_list else re.split(r"\s*[-,]\s*", str(value).strip())
    try:
        bounds = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"must be seconds as MIN-MAX (e.g. 1-3) or one number, got {value!r}") from None
    if len(bounds) == 1:
        bounds = bounds * 2
    if len(bounds) != 2 or bounds[0] < 0 or bounds[1] < bounds[0]:
        raise ValueError(f"must be seconds as MIN-MAX with 0 ≤ MIN ≤ MAX, got {value!r}")
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


def parse_stages_text(value: Any) -> str:
    """Validated here, kept as text (JSON-friendly); the engine turns it into stages."""
    from shopstorm.metrics.arrivals import parse_stages

    parse_stages(str(value))
    return str(value)


def parse_gate_texts(value: Any) -> tuple[str, ...]:
    """Gate texts from flags (a list), an environment variable (``;``-separated) or the settings file (a list or a
    ``[gates]`` table); every gate is parsed here, so a typo fails before any load."""
    from shopstorm.gates import gates_from_settings_table, parse_gates

    if isinstance(value, Mapping):
        texts = gates_from_settings_table(value)
    elif isinstance(value, list | tuple):
        texts = [str(item) for item in value]
    else:
        texts = [part for part in str(value).split(";") if part.strip()]
    try:
        parse_gates(texts)
    except UsageError as error:
        raise ValueError(str(error)) from None
    return tuple(texts)


def parse_text(value: Any) -> str:
    return str(value)


def parse_texts(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


# --- the table of settings ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    aliases: tuple[str, ...] = ()  # environment names from the seed suites, read after SHOPSTORM_<NAME>
    secret: bool = False  # never echoed into logs, reports or summary.json
    flags: str = ""  # the command-line flags, where they differ from --<name>

    @property
    def env(self) -> str:
        return f"SHOPSTORM_{self.name.upper()}"


FIELDS: tuple[Field, ...] = (
    Field(
        "host",
        parse_base_url,
        None,
        "base URL of the shop (one gateway for all services)",
        ("LOAD_TEST_HOST",),
    ),
    Field("urls", parse_text, None, "urls.json with ORDER_URL, PAYMENT_URL, STOCK_URL (instead of host)"),
    Field("mix", parse_text, None, "which of the target's mixes to run (default: its first; see `targets`)"),
    Field(
        "journeys",
        parse_name_list,
        (),
        "run only these journeys of the target's mix (repeatable flag)",
        flags="`--journey` (repeatable)",
    ),
    Field(
        "weights",
        parse_weights,
        {},
        "override journey weights, NAME=WEIGHT (repeatable flag)",
        flags="`--weight` (repeatable)",
    ),
    Field("think_time", parse_think_time, None, "seconds each shopper waits between journeys, MIN-MAX"),
    Field(
        "users",
        parse_positive_int,
        None,
        "concurrent shoppers (Locust -u)",
        ("PT_NUM_CLIENTS",),
        flags="`-u`/`--users`; consistency: `--concurrency`",
    ),
    Field(
        "spawn_rate",
        parse_positive_float,
        None,
        "shoppers started per second (Locust -r)",
        ("PT_HATCH_RATE",),
        flags="`-r`/`--spawn-rate`",
    ),
    Field(
        "run_time",
        parse_timespan,
        None,
        "stop after this long, e.g. 30s, 5m (Locust -t)",
        ("PT_DURATION",),
        flags="`-t`/`--run-time`",
    ),
    Field(
        "arrival_rate", parse_positive_float, None, "open model: journeys started per second (start rate with stages)"
    ),
    Field("stages", parse_stages_text, None, "open model: rate ramps DURATION:RATE,..., e.g. 30s:10,1m:50"),
    Field("max_users", parse_positive_int, 100, "open model: shoppers available to start arrivals"),
    Field(
        "max_lateness", parse_positive_float, 10.0, "open model: seconds an arrival may start late before it is dropped"
    ),
    Field("iterations", parse_positive_int, None, "stop after this many journeys (either model)"),
    Field("headless", parse_bool, False, "no web UI; start at once (implied by run_time)"),
    Field("web_port", parse_positive_int, None, "port of Locust's web UI", ("PT_LOCUST_PORT",)),
    Field("out", parse_text, "shopstorm-out", "folder for summary.json and other run files"),
    Field(
        "gates",
        parse_gate_texts,
        (),
        "thresholds that decide the exit code, e.g. 'checkout p95<800ms' (a list, or a [gates] table in the file)",
        flags="`--gate` (repeatable)",
    ),
    Field("junit", parse_text, None, "write the gates and audit invariants as JUnit XML to this file"),
    Field(
        "basic_auth",
        parse_text,
        None,
        "HTTP basic auth USER:PASSWORD sent on every request (or $BASIC_AUTH_USER with $BASIC_AUTH_PASSWORD/_PASS)",
        secret=True,
    ),
    Field("user_speed", parse_positive_float, 1.0, "storefront: form-filling pauses last 1-3 s divided by this"),
    Field("request_timeout", parse_positive_float, 30.0, "seconds before a request counts as failed (unknown)"),
    Field(
        "seed_items",
        parse_positive_int,
        100,
        "catalogue items seeded before the load",
        flags="`--seed-items`; consistency: `--items`",
    ),
    Field(
        "seed_stock",
        parse_positive_int,
        1_000_000,
        "stock of each seeded catalogue item",
        flags="`--seed-stock`; consistency: `--stock`",
    ),
    Field(
        "seed_price",
        parse_positive_int,
        10,
        "price of each seeded item (batch seeding; create uses 1 to 2 times price)",
        flags="`--seed-price`; consistency: `--price`",
    ),
    Field(
        "seed_mode",
        parse_choice("auto", "create", "batch"),
        "auto",
        "seed with create endpoints, batch_init endpoints, or auto (batch_init when the shop has it)",
    ),
    Field("seed_users", parse_positive_int, 1000, "users seeded for a consistency run", flags="consistency: `--users`"),
    Field(
        "seed_credit",
        parse_non_negative_int,
        1,
        "credit of each seeded user (consistency run)",
        flags="consistency: `--credit`",
    ),
    Field(
        "checkouts",
        parse_non_negative_int,
        0,
        "orders prepared and checked out concurrently (consistency run)",
        flags="consistency: `--checkouts`",
    ),
    Field(
        "quantity",
        parse_positive_int,
        1,
        "units of an item in each consistency-run order",
        flags="consistency: `--quantity`",
    ),
    Field(
        "double_submit",
        parse_fraction,
        0.0,
        "share of consistency-run orders checked out twice (0 to 1)",
        flags="consistency: `--double-submit`",
    ),
    Field(
        "audit",
        parse_bool,
        False,
        "audit the shop after the load (exit code 3 on violations)",
        flags="`--audit` (consistency: always)",
    ),
    Field(
        "store",
        parse_text,
        None,
        "demo shop store URL: sqlite:///file.db or postgresql://host/db (demo only)",
        flags="demo: `--store`",
    ),
    Field(
        "faults",
        parse_texts,
        (),
        "demo shop faults to switch on (demo only; see `shopstorm shop --help`)",
        flags="demo: `--fault` (repeatable)",
    ),
)

FIELDS_BY_NAME = {f.name: f for f in FIELDS}


@dataclass(frozen=True)
class Settings:
    """Every setting of a run, resolved. Build it with :func:`load_settings`."""

    host: str | None = None
    urls: str | None = None
    mix: str | None = None
    journeys: tuple[str, ...] = ()
    weights: dict[str, int] = field(default_factory=dict)
    think_time: tuple[float, float] | None = None
    users: int | None = None
    spawn_rate: float | None = None
    run_time: int | None = None
    arrival_rate: float | None = None
    stages: str | None = None
    max_users: int = 100
    max_lateness: float = 10.0
    iterations: int | None = None
    headless: bool = False
    web_port: int | None = None
    out: str = "shopstorm-out"
    gates: tuple[str, ...] = ()
    junit: str | None = None
    basic_auth: str | None = None
    user_speed: float = 1.0
    request_timeout: float = 30.0
    seed_items: int = 100
    seed_stock: int = 1_000_000
    seed_price: int = 10
    seed_mode: str = "auto"
    seed_users: int = 1000
    seed_credit: int = 1
    checkouts: int = 0
    quantity: int = 1
    double_submit: float = 0.0
    audit: bool = False
    store: str | None = None
    faults: tuple[str, ...] = ()

    @property
    def open_model(self) -> bool:
        return self.arrival_rate is not None or self.stages is not None

    def public(self) -> dict[str, Any]:
        """The settings as plain data for summary.json, with secrets left out."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if not FIELDS_BY_NAME[f.name].secret and getattr(self, f.name) not in (None, (), {})
        }

    def to_json(self) -> str:
        """All settings, secrets included, for handing to the Locust processes of the same run."""
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_json(cls, text: str) -> Settings:
        data = json.loads(text)
        for name in ("journeys", "faults", "gates"):
            data[name] = tuple(data.get(name) or ())
        if data.get("think_time") is not None:
            data["think_time"] = tuple(data["think_time"])
        return cls(**data)


# --- sources ------------------------------------------------------------------------------------------------------


def find_settings_file(explicit: str | None, cwd: Path) -> tuple[Path, dict[str, Any]] | None:
    """The settings file and its shopstorm table: ``explicit``, else ./shopstorm.toml, else ./pyproject.toml."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise UsageError(f"settings file {explicit} does not exist")
        candidates = [path]
    else:
        candidates = [cwd / "shopstorm.toml", cwd / "pyproject.toml"]
    for path in candidates:
        if not path.is_file():
            continue
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise UsageError(f"settings file {path} is not valid TOML: {error}") from None
        if path.name == "pyproject.toml" and not explicit:
            table = document.get("tool", {}).get("shopstorm")
            if table is None:
                continue
            return path, table
        return path, document.get("tool", {}).get("shopstorm", document)
    return None


def _parse(spec: Field, value: Any, source: str) -> Any:
    try:
        return spec.parse(value)
    except ValueError as error:
        raise UsageError(f"setting {spec.name} ({source}): {error}") from None


def load_settings(
    cli: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
    cwd: Path | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve the settings: CLI > environment > settings file > ``defaults`` (command-specific) > built-in.

    ``cli`` maps setting names to raw values; ``None`` means "not given on the command line".
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {spec.name: spec.default for spec in FIELDS}
    values.update(defaults or {})

    found = find_settings_file(config_file, cwd or Path.cwd())
    if found is not None:
        path, table = found
        for key, value in table.items():
            spec = FIELDS_BY_NAME.get(key.replace("-", "_"))
            if spec is None:
                known = ", ".join(sorted(FIELDS_BY_NAME))
                raise UsageError(f"settings file {path}: unknown setting {key!r} (known: {known})")
            values[spec.name] = _parse(spec, value, f"from {path}")

    for spec in FIELDS:
        for name in (spec.env, *spec.aliases):
            if environ.get(name, "") != "":
                values[spec.name] = _parse(spec, environ[name], f"from ${name}")
                break

    if environ.get("BASIC_AUTH_USER") and not environ.get("SHOPSTORM_BASIC_AUTH"):
        # the Saleor workshop's names: a user and a password in two variables
        password = environ.get("BASIC_AUTH_PASSWORD") or environ.get("BASIC_AUTH_PASS") or ""
        values["basic_auth"] = f"{environ['BASIC_AUTH_USER']}:{password}"

    for name, value in (cli or {}).items():
        if value is None or value == () or value == []:
            continue
        spec = FIELDS_BY_NAME[name]
        values[name] = _parse(spec, value, "on the command line")

    settings = Settings(**values)
    if (settings.run_time or settings.open_model or settings.iterations) and not settings.headless:
        settings = replace(settings, headless=True)
    return settings


def settings_table_markdown() -> str:
    """The README's settings table."""
    rows = ["| setting | flag | environment | default | meaning |", "|---|---|---|---|---|"]
    for spec in FIELDS:
        env = " / ".join(f"`{name}`" for name in (spec.env, *spec.aliases))
        default = "—" if spec.default in (None, (), {}) else f"`{spec.default}`"
        flag = spec.flags or f"`--{spec.name.replace('_', '-')}`"
        rows.append(f"| `{spec.name}` | {flag} | {env} | {default} | {spec.help} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table_markdown())
