"""The table of settings: every setting declared once, with its parser, default, help, environment names and flags.

:mod:`shopstorm.settings` builds the one settings object from it, generates the commands' options and the
README's table from it, and checks its ``Settings`` dataclass against it. Each value's parser is in
:mod:`shopstorm.setting_values` (gates in :mod:`shopstorm.gates`); a mix of your own (``[mixes.NAME]``) is parsed
here, key by key with the parsers of the settings of the same names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shopstorm.gates import Gate, gates_setting
from shopstorm.setting_values import (
    parse_base_url,
    parse_bool,
    parse_choice,
    parse_fraction,
    parse_name_list,
    parse_non_negative_int,
    parse_port,
    parse_port_or_zero,
    parse_positive_float,
    parse_positive_int,
    parse_seconds,
    parse_stages,
    parse_text,
    parse_text_table,
    parse_texts,
    parse_think_time,
    parse_timespan,
    parse_weights,
)

# --- mixes of your own ---------------------------------------------------------------------------------------------

MIX_KEYS = ("base", "journeys", "weights", "think_time", "gates")


@dataclass(frozen=True)
class NamedMix:
    """A mix declared in the settings file: a target's mix (``base``) narrowed, re-weighted and gated."""

    base: str | None = None
    journeys: tuple[str, ...] = ()
    weights: dict[str, int] = field(default_factory=dict)
    think_time: tuple[float, float] | None = None
    gates: tuple[Gate, ...] = ()

    def plain(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "journeys": list(self.journeys),
            "weights": dict(self.weights),
            "think_time": list(self.think_time) if self.think_time else None,
            "gates": [gate.text for gate in self.gates],
        }


def parse_named_mixes(value: Any) -> dict[str, NamedMix]:
    """``[mixes.NAME]`` tables (or their JSON from the environment): each key parsed as its setting is."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            raise ValueError("must be [mixes.NAME] tables (JSON text in the environment)") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"must be [mixes.NAME] tables, got {str(value)[:60]!r}")
    mixes = {}
    for name, table in value.items():
        if not isinstance(table, Mapping):
            raise ValueError(f"mix {name!r} must be a table of {', '.join(MIX_KEYS)}")
        unknown = sorted(set(table) - set(MIX_KEYS))
        if unknown:
            raise ValueError(f"mix {name!r}: unknown key {unknown[0]!r} (known: {', '.join(MIX_KEYS)})")
        try:
            parsed = {key: FIELDS_BY_NAME["mix" if key == "base" else key].parse(raw) for key, raw in table.items()}
        except ValueError as error:
            raise ValueError(f"mix {name!r}: {error}") from None
        mixes[str(name)] = NamedMix(**parsed)
    return mixes


# --- the table of settings ----------------------------------------------------------------------------------------

LOAD = ("run", "demo")  # the commands that run a mix
EVERY = ("run", "demo", "consistency")  # every command that runs a load


@dataclass(frozen=True)
class Flag:
    """One command-line spelling of a setting, on the commands named."""

    names: tuple[str, ...]  # ("-u", "--users")
    commands: tuple[str, ...] = LOAD
    metavar: str | None = None
    action: str = "value"  # "value"; "append" (repeatable); "on" (store_true); "off" (store_false)


@dataclass(frozen=True)
class Field:
    """One setting: its parser, default, meaning, environment names and flags. The :class:`Settings` dataclass,
    the commands' options (:func:`add_flags`) and the README's table (:func:`settings_table_markdown`) all come
    from, or are checked against, this one declaration."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    aliases: tuple[str, ...] = ()  # environment names from the seed suites, read after SHOPSTORM_<NAME>
    secret: bool = False  # never echoed into logs, reports or summary.json
    flags: tuple[Flag, ...] = ()  # none: the settings file and the environment only

    @property
    def env(self) -> str:
        return f"SHOPSTORM_{self.name.upper()}"


def _flag(*names: str, on: tuple[str, ...] = LOAD, metavar: str | None = None, action: str = "value") -> Flag:
    return Flag(names, on, metavar, action)


FIELDS: tuple[Field, ...] = (
    Field(
        "host",
        parse_base_url,
        None,
        "base URL of the shop (one gateway for all services)",
        ("LOAD_TEST_HOST",),
        flags=(_flag("--host", on=EVERY, metavar="URL"),),
    ),
    Field(
        "urls",
        parse_text,
        None,
        "urls.json with ORDER_URL, PAYMENT_URL, STOCK_URL (instead of host)",
        flags=(_flag("--urls", on=EVERY, metavar="FILE"),),
    ),
    Field(
        "mix",
        parse_text,
        None,
        "which of the target's mixes to run (default: its first; see `targets`)",
        flags=(_flag("--mix"),),
    ),
    Field(
        "journeys",
        parse_name_list,
        (),
        "run only these journeys of the target's mix",
        flags=(_flag("--journey", metavar="NAME", action="append"),),
    ),
    Field(
        "weights",
        parse_weights,
        {},
        "override journey weights, NAME=WEIGHT",
        flags=(_flag("--weight", metavar="NAME=N", action="append"),),
    ),
    Field(
        "think_time",
        parse_think_time,
        None,
        "seconds each shopper waits between journeys, MIN-MAX (default: the mix's)",
        flags=(_flag("--think-time", metavar="MIN-MAX"),),
    ),
    Field(
        "users",
        parse_positive_int,
        None,
        "concurrent shoppers (Locust -u)",
        ("PT_NUM_CLIENTS",),
        flags=(_flag("-u", "--users", metavar="N"), _flag("--concurrency", on=("consistency",), metavar="N")),
    ),
    Field(
        "spawn_rate",
        parse_positive_float,
        None,
        "shoppers started per second (Locust -r)",
        ("PT_HATCH_RATE",),
        flags=(_flag("-r", "--spawn-rate", metavar="R"),),
    ),
    Field(
        "run_time",
        parse_timespan,
        None,
        "stop after this long, e.g. 30s, 5m (Locust -t); implies headless",
        ("PT_DURATION",),
        flags=(_flag("-t", "--run-time", on=EVERY, metavar="TIME"),),
    ),
    Field(
        "arrival_rate",
        parse_positive_float,
        None,
        "open model: journeys started per second (start rate with stages)",
        flags=(_flag("--arrival-rate", metavar="R"),),
    ),
    Field(
        "stages",
        parse_stages,
        (),
        "open model: rate ramps DURATION:RATE,..., e.g. 30s:10,1m:50",
        flags=(_flag("--stages", metavar="D:R,…"),),
    ),
    Field(
        "max_users",
        parse_positive_int,
        100,
        "open model: shoppers available to start arrivals",
        flags=(_flag("--max-users", metavar="N"),),
    ),
    Field(
        "max_lateness",
        parse_seconds,
        10.0,
        "open model: seconds an arrival may start late before it is dropped",
        flags=(_flag("--max-lateness", metavar="SECONDS"),),
    ),
    Field(
        "iterations",
        parse_positive_int,
        None,
        "stop after this many journeys (either model)",
        flags=(_flag("--iterations", metavar="N"),),
    ),
    Field(
        "headless",
        parse_bool,
        False,
        "no web UI; start at once (implied by run_time)",
        flags=(_flag("--headless", action="on"),),
    ),
    Field(
        "web_port",
        parse_port,
        None,
        "port of Locust's web UI",
        ("PT_LOCUST_PORT",),
        flags=(_flag("--web-port", metavar="PORT"),),
    ),
    Field(
        "out",
        parse_text,
        "shopstorm-out",
        "folder for summary.json and other run files",
        flags=(_flag("--out", on=EVERY, metavar="DIR"),),
    ),
    Field(
        "gates",
        gates_setting,
        (),
        "thresholds that decide the exit code, e.g. 'checkout p95<800ms' (a list, or a [gates] table in the file)",
        flags=(_flag("--gate", on=EVERY, metavar="GATE", action="append"),),
    ),
    Field(
        "junit",
        parse_text,
        None,
        "write the gates and audit invariants as JUnit XML to this file",
        flags=(_flag("--junit", on=EVERY, metavar="FILE"),),
    ),
    Field(
        "basic_auth",
        parse_text,
        None,
        "HTTP basic auth USER:PASSWORD sent on every request (or $BASIC_AUTH_USER with $BASIC_AUTH_PASSWORD/_PASS)",
        secret=True,
        flags=(_flag("--basic-auth", on=EVERY, metavar="USER:PASSWORD"),),
    ),
    Field(
        "storefront_profile",
        parse_choice("saleor", "generic"),
        "saleor",
        "storefront target: whose markup and checkout steps to expect (saleor: Saleor's 2018 Django storefront; "
        "generic: forms with ids, a JSON order endpoint)",
        flags=(_flag("--storefront-profile", on=EVERY, metavar="saleor|generic"),),
    ),
    Field(
        "storefront",
        parse_text_table,
        {},
        "storefront target: selectors and step URLs overriding the profile's, a settings-file table "
        "(see docs/targets/storefront.md)",
    ),
    Field(
        "api_token",
        parse_text,
        None,
        "checkout-api: bearer token for the shop's API (better in the environment than on the command line)",
        ("LOAD_TEST_API_TOKEN",),
        secret=True,
        flags=(_flag("--api-token", metavar="TOKEN"),),
    ),
    Field(
        "product_id",
        parse_text,
        None,
        "checkout-api: the product to check out (default: one the seed creates, demo shop)",
        ("LOAD_TEST_PRODUCT_ID",),
        flags=(_flag("--product-id", metavar="ID"),),
    ),
    Field(
        "checkout_api_version",
        parse_choice("auto", "current", "2024"),
        "auto",
        "checkout-api: how checkouts are created: current (POST /v1/checkouts/ with products), 2024 (the removed "
        "POST /v1/checkouts/client/ of older self-hosted Polar), auto (current, unless the seed finds it missing)",
        flags=(_flag("--checkout-api-version", metavar="auto|current|2024"),),
    ),
    Field(
        "customer_email",
        parse_text,
        None,
        "checkout-api: the customer email; each checkout gets a sub-address of it, loadtest+<run>-<n>@domain "
        "(needed against a remote shop)",
        ("LOAD_TEST_CUSTOMER_EMAIL",),
        flags=(_flag("--customer-email", metavar="EMAIL"),),
    ),
    Field(
        "provider_secret",
        parse_text,
        None,
        "checkout-api: the shop's Stripe webhook secret, to sign the provider events of the inbound_payment journey",
        secret=True,
        flags=(_flag("--provider-secret", metavar="SECRET"),),
    ),
    Field(
        "confirmation_token_id",
        parse_text,
        None,
        "checkout-api: a Stripe test-mode confirmation token, sent with the confirm of a paid checkout (Polar needs "
        "one; the demo shop takes any)",
        flags=(_flag("--confirmation-token-id", metavar="ID"),),
    ),
    Field(
        "webhooks",
        parse_bool,
        True,
        "checkout-api: receive and verify the shop's webhooks during the run",
        flags=(_flag("--no-webhooks", action="off"),),
    ),
    Field(
        "webhook_url",
        parse_base_url,
        None,
        "checkout-api: the URL the shop should post webhooks to, when it cannot reach this machine's loopback "
        "receiver directly (a tunnel to --webhook-port)",
        flags=(_flag("--webhook-url", metavar="URL"),),
    ),
    Field(
        "webhook_secret_format",
        parse_choice("polar", "standard"),
        "polar",
        "checkout-api: how the webhook secret keys the signature: polar (the secret string's UTF-8 bytes, as Polar "
        "signs) or standard (the base64 after whsec_, as the Standard Webhooks libraries do)",
        flags=(_flag("--webhook-secret-format", metavar="polar|standard"),),
    ),
    Field(
        "webhook_port",
        parse_port_or_zero,
        0,
        "checkout-api: the receiver's port on 127.0.0.1 (0: a free one)",
        flags=(_flag("--webhook-port", metavar="PORT"),),
    ),
    Field(
        "settle_timeout",
        parse_seconds,
        30.0,
        "checkout-api: seconds a confirmed checkout may take to settle (the settle step's polling, the audit's wait)",
        flags=(_flag("--settle-timeout", metavar="SECONDS"),),
    ),
    Field(
        "user_speed",
        parse_positive_float,
        1.0,
        "storefront: form-filling pauses last 1-3 s divided by this",
        flags=(_flag("--user-speed", metavar="X"),),
    ),
    Field(
        "request_timeout",
        parse_seconds,
        30.0,
        "seconds before a request counts as failed (unknown)",
        flags=(_flag("--request-timeout", on=EVERY, metavar="SECONDS"),),
    ),
    Field(
        "max_body",
        parse_positive_int,
        1_000_000,
        'bytes of an answer read at most; a larger answer fails as unknown ("answer larger than …")',
        flags=(_flag("--max-body", on=EVERY, metavar="BYTES"),),
    ),
    Field(
        "seed_items",
        parse_positive_int,
        100,
        "catalogue items seeded before the load",
        flags=(_flag("--seed-items", metavar="N"), _flag("--items", on=("consistency",), metavar="N")),
    ),
    Field(
        "seed_stock",
        parse_positive_int,
        1_000_000,
        "stock of each seeded catalogue item",
        flags=(_flag("--seed-stock", metavar="N"), _flag("--stock", on=("consistency",), metavar="N")),
    ),
    Field(
        "seed_price",
        parse_positive_int,
        10,
        "price of each seeded item (batch seeding; create uses 1 to 2 times price)",
        flags=(_flag("--seed-price", metavar="N"), _flag("--price", on=("consistency",), metavar="N")),
    ),
    Field(
        "seed_mode",
        parse_choice("auto", "create", "batch"),
        "auto",
        "seed with create endpoints, batch_init endpoints, or auto (batch_init when the shop has it)",
        flags=(_flag("--seed-mode", on=EVERY, metavar="auto|create|batch"),),
    ),
    Field(
        "seed_users",
        parse_positive_int,
        1000,
        "users seeded for a consistency run",
        flags=(_flag("--users", on=("consistency",), metavar="N"),),
    ),
    Field(
        "seed_credit",
        parse_non_negative_int,
        1,
        "credit of each seeded user (consistency run)",
        flags=(_flag("--credit", on=("consistency",), metavar="N"),),
    ),
    Field(
        "checkouts",
        parse_non_negative_int,
        0,
        "orders prepared and checked out concurrently (`shopstorm consistency`: 1000 unless given)",
        flags=(_flag("--checkouts", on=("consistency",), metavar="N"),),
    ),
    Field(
        "quantity",
        parse_positive_int,
        1,
        "units of an item in each consistency-run order",
        flags=(_flag("--quantity", on=("consistency",), metavar="N"),),
    ),
    Field(
        "double_submit",
        parse_fraction,
        0.0,
        "share of consistency-run orders checked out twice (0 to 1)",
        flags=(_flag("--double-submit", on=("consistency",), metavar="FRACTION"),),
    ),
    Field(
        "audit",
        parse_bool,
        False,
        "audit the shop after the load (exit code 3 on violations; `consistency` always audits)",
        flags=(_flag("--audit", action="on"),),
    ),
    Field(
        "store",
        parse_text,
        None,
        "demo shop store URL: sqlite:///file.db or postgresql://host/db (demo only)",
        flags=(_flag("--store", on=("demo",), metavar="URL"),),
    ),
    Field(
        "faults",
        parse_texts,
        (),
        "demo shop faults to switch on (demo only; see `shopstorm shop --help`)",
        flags=(_flag("--fault", on=("demo",), metavar="NAME", action="append"),),
    ),
    Field(
        "mixes",
        parse_named_mixes,
        {},
        "mixes of your own, a [mixes.NAME] table each: base (a target's mix), journeys, weights, think_time, gates; "
        "run one with --mix NAME",
    ),
)

FIELDS_BY_NAME = {f.name: f for f in FIELDS}
