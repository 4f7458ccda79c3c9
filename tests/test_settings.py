"""Settings: one object, CLI > environment > settings file > defaults, and one clear error per bad value."""

from __future__ import annotations

import re

import pytest

from shopstorm.errors import UsageError
from shopstorm.setting_values import parse_think_time, parse_timespan
from shopstorm.settings import load_settings, settings_table_markdown


def test_precedence_cli_over_env_over_file_over_defaults(tmp_path):
    (tmp_path / "shopstorm.toml").write_text('users = 3\nspawn_rate = 2\nout = "from-file"\nthink_time = [0, 1]\n')
    env = {"SHOPSTORM_USERS": "7", "SHOPSTORM_SPAWN_RATE": "4"}
    settings = load_settings({"users": "11"}, environ=env, cwd=tmp_path)
    assert settings.users == 11  # CLI
    assert settings.spawn_rate == 4.0  # env
    assert settings.out == "from-file" and settings.think_time == (0.0, 1.0)  # file
    assert settings.seed_items == 100  # default


def test_pyproject_tool_table_is_read_when_no_shopstorm_toml(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.shopstorm]\nseed_items = 5\n')
    assert load_settings(environ={}, cwd=tmp_path).seed_items == 5


def test_seed_suite_aliases_are_honoured_after_shopstorm_names():
    env = {"PT_NUM_CLIENTS": "2", "PT_DURATION": "10m", "LOAD_TEST_HOST": "http://shop.test:8000/"}
    settings = load_settings(environ=env, cwd=None)
    assert (settings.users, settings.run_time, settings.host) == (2, 600, "http://shop.test:8000")
    assert settings.headless  # a run time means a headless run
    assert load_settings(environ={**env, "SHOPSTORM_USERS": "9"}).users == 9


def test_command_defaults_sit_below_every_source(tmp_path):
    settings = load_settings({"users": "4"}, environ={}, cwd=tmp_path, defaults={"users": 20, "run_time": 30})
    assert (settings.users, settings.run_time) == (4, 30)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("30s", 30), ("1m30s", 90), ("2h", 7200), ("1h1m1s", 3661)])
def test_timespans(text, seconds):
    assert parse_timespan(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0", "1d", "-5"])
def test_bad_timespans(text):
    with pytest.raises(ValueError):
        parse_timespan(text)


def test_think_time_forms():
    assert parse_think_time("1-3") == (1.0, 3.0)
    assert parse_think_time("0.5") == (0.5, 0.5)
    with pytest.raises(ValueError):
        parse_think_time("3-1")


def test_a_bad_value_names_setting_and_source(tmp_path):
    with pytest.raises(UsageError, match=r"setting users \(from \$SHOPSTORM_USERS\): must be a positive integer"):
        load_settings(environ={"SHOPSTORM_USERS": "0"}, cwd=tmp_path)
    (tmp_path / "shopstorm.toml").write_text("seed_mode = 'magic'\n")
    with pytest.raises(UsageError, match=r"seed_mode \(from .*shopstorm.toml\): must be one of auto, create, batch"):
        load_settings(environ={}, cwd=tmp_path)


def test_secrets_never_in_public_settings():
    settings = load_settings({"host": "http://127.0.0.1:1"}, environ={})
    assert "host" in settings.public() and "journeys" not in settings.public()  # empty values left out


def test_readme_table_lists_every_setting():
    table = settings_table_markdown()
    assert "`SHOPSTORM_SEED_MODE`" in table and "`PT_NUM_CLIENTS`" in table


def test_every_setting_is_declared_once_and_the_dataclass_the_flags_and_the_table_agree():
    """FIELDS is the declaration: the Settings dataclass has the same names, order and defaults; every flag of every
    command is generated from it, with its help, dest and the command's default; the README rows come from it."""
    import argparse
    from dataclasses import MISSING, fields

    from shopstorm.cli import CONSISTENCY_DEFAULTS, DEMO_DEFAULTS, build_parser
    from shopstorm.setting_fields import FIELDS
    from shopstorm.settings import Settings

    assert [spec.name for spec in FIELDS] == [f.name for f in fields(Settings)]
    for spec, attribute in zip(FIELDS, fields(Settings), strict=True):
        default = attribute.default if attribute.default is not MISSING else attribute.default_factory()
        assert default == spec.default, (spec.name, default, spec.default)
    subcommands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    command_defaults = {"run": {}, "demo": DEMO_DEFAULTS, "consistency": CONSISTENCY_DEFAULTS}
    generated = 0
    for command, defaults in command_defaults.items():
        options = {s: a for a in subcommands[command]._actions for s in a.option_strings}
        for spec in FIELDS:
            for flag in spec.flags:
                for name in flag.names:
                    action = options.get(name)
                    if command not in flag.commands:
                        assert action is None or action.dest != spec.name, (command, name)
                        continue
                    assert action is not None and action.dest == spec.name, (command, name)
                    assert spec.help in action.help, (command, name, action.help)
                    default = defaults.get(spec.name, spec.default)
                    if default not in (None, (), {}) and flag.action not in ("on", "off"):
                        assert action.help.endswith(f"(default {default})"), (command, name, action.help)
                    generated += 1
        settings_dests = {spec.name for spec in FIELDS}
        for action in subcommands[command]._actions:  # nothing on the command line that is not a declared setting
            assert action.dest in settings_dests | {"help", "config", "target", "demo_target"}, (command, action.dest)
    assert generated > 60


def test_the_readmes_settings_table_is_the_parser():
    """The README's settings table is the one the code generates, every setting is in it with its real default, and
    every flag it names is one the command accepts (`run`'s, or `consistency`'s where the table says so)."""
    import argparse
    import re
    from pathlib import Path

    from shopstorm.cli import build_parser
    from shopstorm.setting_fields import FIELDS

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert settings_table_markdown() in readme, "regenerate it: python -m shopstorm.settings"
    rows = {}
    for line in readme.splitlines():
        match = re.match(r"\| `([a-z_]+)` \| (.*?) \| (.*?) \| (.*?) \| (.*) \|$", line)
        if match:
            rows[match[1]] = match.groups()[1:]
    assert set(rows) == {field.name for field in FIELDS}
    subcommands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    flags = {name: {s for a in parser._actions for s in a.option_strings} for name, parser in subcommands.items()}
    for field in FIELDS:
        flag_column, _, default, _ = rows[field.name]
        empty = field.default is None or field.default in ((), {})
        assert default.startswith("—" if empty else f"`{field.default}`"), (field.name, field.default, default)
        for part in flag_column.split(";"):
            named, colon, _ = part.strip().partition(":")
            command = named if colon and named in flags else "run"
            for flag in re.findall(r"`(-[-\w]+)", part):
                assert flag in flags[command], f"README names {flag} for {field.name}; `{command}` has no such flag"


MIXES_FILE = """
[mixes.checkout_heavy]
base = "stress"
journeys = ["checkout_one", "checkout_two"]
weights = {checkout_one = 3}
think_time = "0.05-0.1"
gates = ["journey:checkout_one fail_ratio<50%"]
"""


def test_a_mix_of_your_own_is_declared_in_the_settings_file_and_chosen_with_mix(tmp_path):
    (tmp_path / "shopstorm.toml").write_text(MIXES_FILE)
    settings = load_settings({"mix": "checkout_heavy"}, environ={}, cwd=tmp_path)
    assert settings.mix == "stress" and settings.journeys == ("checkout_one", "checkout_two")
    assert settings.weights == {"checkout_one": 3} and settings.think_time == (0.05, 0.1)
    assert [gate.text for gate in settings.gates] == ["journey:checkout_one fail_ratio<50%"]
    # the command line still wins over the mix's own choices
    chosen = load_settings({"mix": "checkout_heavy", "journeys": ["checkout_one"]}, environ={}, cwd=tmp_path)
    assert chosen.journeys == ("checkout_one",)
    assert load_settings({}, environ={}, cwd=tmp_path).mix is None  # declared, not chosen


@pytest.mark.parametrize(
    ("table", "phrase"),
    [('[mixes.x]\nbse = "stress"\n', "mix 'x': unknown key 'bse'"),
     ('[mixes.x]\nthink_time = "slow"\n', "mix 'x': must be seconds"),
     ('[mixes.x]\ngates = ["p95<fast"]\n', "mix 'x': bad gate 'p95<fast'"),
     ("mixes = 3\n", "must be [mixes.NAME] tables")],
)  # fmt: skip
def test_a_bad_mix_of_your_own_is_one_line_naming_it(tmp_path, table, phrase):
    (tmp_path / "shopstorm.toml").write_text(table)
    with pytest.raises(UsageError, match=re.escape(phrase)):
        load_settings({}, environ={}, cwd=tmp_path)


def test_a_run_of_a_mix_of_your_own_runs_its_journeys_with_its_gates(demo_shop, tmp_path):
    from support import read_summary, run_cli

    shop = demo_shop("sqlite")
    (tmp_path / "shopstorm.toml").write_text(MIXES_FILE)
    result = run_cli("run", "webshop", "--host", shop.url, "--mix", "checkout_heavy", "-u", "4", "-r", "4", "-t", "4s",
                     "--seed-items", "5", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = read_summary(tmp_path / "shopstorm-out")
    assert {row["name"] for row in summary["journeys"]} <= {"checkout_one", "checkout_two"}
    assert [gate["text"] for gate in summary["gates"]] == ["journey:checkout_one fail_ratio<50%"]
