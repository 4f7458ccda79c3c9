"""One settings object, its sources and their precedence.

A setting is read, highest first, from the command line, a ``SHOPSTORM_<NAME>`` environment variable (or one of
the seed suites' names, e.g. ``PT_NUM_CLIENTS``), the settings file (``shopstorm.toml``, or ``[tool.shopstorm]``
in ``pyproject.toml``), and finally its default. Every value goes through the same parser whatever its source
(the parsers are in :mod:`shopstorm.setting_values`), so a bad value fails the same way everywhere: one line naming
the setting, where it came from and what is wrong (:class:`~shopstorm.errors.UsageError`, exit code 2), before
any load starts.

:data:`~shopstorm.setting_fields.FIELDS` is the single table of settings: the ``Settings`` dataclass is checked
against it, and the commands' options (:func:`add_flags`) and the README's settings table
(``python -m shopstorm.settings``) are generated from it.
"""

from __future__ import annotations

import argparse
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from shopstorm.errors import UsageError
from shopstorm.gates import Gate, gates_setting
from shopstorm.redaction import mask_url_credentials
from shopstorm.setting_fields import EVERY, FIELDS, FIELDS_BY_NAME, LOAD, Field, Flag, NamedMix, parse_named_mixes
from shopstorm.setting_values import (
    Stage,
    parse_stages,
    stages_text,
)


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
    stages: tuple[Stage, ...] = ()
    max_users: int = 100
    max_lateness: float = 10.0
    iterations: int | None = None
    headless: bool = False
    web_port: int | None = None
    out: str = "shopstorm-out"
    gates: tuple[Gate, ...] = ()
    junit: str | None = None
    basic_auth: str | None = None
    storefront_profile: str = "saleor"
    storefront: dict[str, Any] = field(default_factory=dict)
    api_token: str | None = None
    product_id: str | None = None
    checkout_api_version: str = "auto"
    customer_email: str | None = None
    provider_secret: str | None = None
    confirmation_token_id: str | None = None
    webhooks: bool = True
    webhook_url: str | None = None
    webhook_secret_format: str = "polar"
    webhook_port: int = 0
    settle_timeout: float = 30.0
    user_speed: float = 1.0
    request_timeout: float = 30.0
    max_body: int = 1_000_000
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
    mixes: dict[str, NamedMix] = field(default_factory=dict)

    @property
    def open_model(self) -> bool:
        return self.arrival_rate is not None or bool(self.stages)

    def plain(self) -> dict[str, Any]:
        """Every setting as plain JSON-able data: stages and gates as they were written."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["stages"] = stages_text(self.stages) or None
        data["gates"] = [gate.text for gate in self.gates]
        data["mixes"] = {name: mix.plain() for name, mix in self.mixes.items()}
        return data

    def public(self) -> dict[str, Any]:
        """The settings as plain data for summary.json, with secrets left out."""
        return {
            name: mask_url_credentials(value) if isinstance(value, str) else value
            for name, value in self.plain().items()
            if not FIELDS_BY_NAME[name].secret and value not in (None, (), {}, [])
        }

    def to_json(self) -> str:
        """All settings, secrets included, for handing to the Locust processes of the same run."""
        return json.dumps(self.plain())

    @classmethod
    def from_json(cls, text: str) -> Settings:
        """The settings :meth:`to_json` wrote: lists become tuples again, stages and gates are parsed again."""
        data = json.loads(text)
        for name in ("journeys", "faults"):
            data[name] = tuple(data.get(name) or ())
        if data.get("think_time") is not None:
            data["think_time"] = tuple(data["think_time"])
        data["stages"] = parse_stages(data["stages"]) if data.get("stages") else ()
        data["gates"] = gates_setting(data.get("gates") or ())
        data["mixes"] = parse_named_mixes(data.get("mixes") or {})
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
        except RecursionError:
            raise UsageError(f"settings file {path} is nested too deeply to read") from None
        tool = document.get("tool", {})
        if not isinstance(tool, dict):
            raise UsageError(f"settings file {path}: 'tool' must be a table, got {type(tool).__name__}")
        table = tool.get("shopstorm")
        if table is not None and not isinstance(table, dict):
            raise UsageError(f"settings file {path}: 'tool.shopstorm' must be a table, got {type(table).__name__}")
        if path.name == "pyproject.toml" and not explicit:
            if table is None:
                continue
            return path, table
        return path, document if table is None else table
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

    settings = with_named_mix(Settings(**values))
    if (settings.run_time or settings.open_model or settings.iterations) and not settings.headless:
        settings = replace(settings, headless=True)
    return settings


def with_named_mix(settings: Settings) -> Settings:
    """The settings of a run of a mix of your own (``--mix NAME`` naming a ``[mixes.NAME]`` table): its base mix,
    and its journeys, weights and think time where the run's own settings do not set them; its gates added."""
    mix = settings.mixes.get(settings.mix or "")
    if mix is None:
        return settings
    return replace(
        settings,
        mix=mix.base,
        journeys=settings.journeys or mix.journeys,
        weights={**mix.weights, **settings.weights},
        think_time=settings.think_time or mix.think_time,
        gates=(*settings.gates, *mix.gates),
    )


def settings_table_markdown() -> str:
    """The README's settings table."""
    rows = ["| setting | flag | environment | default | meaning |", "|---|---|---|---|---|"]
    for spec in FIELDS:
        env = " / ".join(f"`{name}`" for name in (spec.env, *spec.aliases))
        default = "—" if spec.default in (None, (), {}) else f"`{spec.default}`"
        flags = "; ".join(_flag_cell(flag) for flag in spec.flags) or "—"
        rows.append(f"| `{spec.name}` | {flags} | {env} | {default} | {spec.help} |")
    return "\n".join(rows)


def _flag_cell(flag: Flag) -> str:
    names = "/".join(f"`{name}`" for name in flag.names)
    where = "" if flag.commands in (LOAD, EVERY) else f"{', '.join(flag.commands)}: "
    how = {"append": " (repeatable)", "off": " turns it off"}.get(flag.action, "")
    return f"{where}{names}{how}"


# --- the command line ---------------------------------------------------------------------------------------------


def add_flags(parser: argparse.ArgumentParser, command: str, defaults: Mapping[str, Any]) -> None:
    """Add every setting's flags for ``command`` to its parser; the help ends with the command's default."""
    for spec in FIELDS:
        for flag in spec.flags:
            if command not in flag.commands:
                continue
            default = defaults.get(spec.name, spec.default)
            shown = "" if default in (None, (), {}) or flag.action in ("on", "off") else f" (default {default})"
            meaning = f"turns off: {spec.help}" if flag.action == "off" else spec.help
            options: dict[str, Any] = {"dest": spec.name, "help": meaning + shown}
            if flag.action in ("on", "off"):
                options.update(action="store_true" if flag.action == "on" else "store_false", default=None)
            else:
                options.update(metavar=flag.metavar, action="append" if flag.action == "append" else "store")
            parser.add_argument(*flag.names, **options)


if __name__ == "__main__":
    print(settings_table_markdown())
