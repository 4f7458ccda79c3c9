"""Fuzzing every parser of user input: settings from each source (command line, environment, settings file), gates,
stages and durations, URLs and the urls file, and the summaries ``compare`` reads. Whatever the input, the only
exception a parser raises is :class:`~shopstorm.errors.UsageError`, with a one-line message (the CLI prints it and
exits 2). Bounded to ~300 examples per parser so the file runs in well under a minute."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopstorm.errors import UsageError
from shopstorm.gates import parse_gates
from shopstorm.report.compare import compare, load_summary, parse_max_regression, render
from shopstorm.setting_fields import FIELDS
from shopstorm.settings import load_settings
from shopstorm.targets.webshop import WebshopEndpoints

NO_ENV: dict[str, str] = {}

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCRATCH = Path(tempfile.mkdtemp(prefix="shopstorm-fuzz-"))  # files the fuzz tests write (no function fixture)
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)
EMPTY = SCRATCH / "empty"  # a working directory without a settings file
EMPTY.mkdir()
TOML_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
    st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=10)), max_size=4),
    st.dictionaries(st.text(max_size=10), st.one_of(st.integers(), st.text(max_size=10)), max_size=3),
)  # fmt: skip
NAMES = st.sampled_from([spec.name for spec in FIELDS])
GATE_TOKENS = ["p95", "p99", "<", "<=", "==", "!", ">", "ms", "s", "%", "checkout", "journey:", "audit.", "violations",
               "fail_ratio", "req/s", "dropped", " ", '"', "1", "0.5", "-", "1e9", ":", ","]  # fmt: skip
MIXED_TEXT = st.one_of(st.text(max_size=40), st.lists(st.sampled_from(GATE_TOKENS), max_size=8).map("".join))
TOML_LINES = ["tool = 3\n", "[tool]\n", "shopstorm = 'x'\n", "[tool.shopstorm]\n", "host = 'http://a'\n",
              "users = -1\n", "[gates]\n", "checkout = 'p95<1s'\n", "x = [[1]]\n", "gates = {a = 1}\n",
              "think_time = [1, 2, 3]\n", "web_port = 1e9\n", "'", "="]  # fmt: skip
TOML_DOCUMENTS = st.one_of(st.text(max_size=80), st.lists(st.sampled_from(TOML_LINES), max_size=6).map("".join))
SPAN_TOKENS = ["1", "0", "9" * 30, "h", "m", "s", ":", ",", ".", " ", "5", "1e9"]
SPANS = st.one_of(st.text(max_size=30), st.lists(st.sampled_from(SPAN_TOKENS), max_size=10).map("".join))
URL_TOKENS = ["http://", "https://", "ftp://", "user", ":", "s3cret", "@", "[", "]", "::1", "shop", ".", "-", "_",
              "example", "80", "99999", "0", "/", "?", "#", "%", " ", "\udcff", "é"]  # fmt: skip
URLS = st.one_of(st.text(max_size=40), st.lists(st.sampled_from(URL_TOKENS), max_size=10).map("".join))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=12,
)
ROW_KEYS = st.sampled_from(["method", "name", "latency_ms", "rps", "per_s", "p50", "p95", "p99", "weights"])
ROW = st.dictionaries(ROW_KEYS, st.one_of(JSON, st.dictionaries(ROW_KEYS, JSON, max_size=4)), max_size=6)
MIXES = st.dictionaries(st.text(max_size=4), st.dictionaries(ROW_KEYS, JSON))
SUMMARIES = st.fixed_dictionaries(
    {"schema": st.just("shopstorm.summary/1")},
    optional={
        "target": JSON,
        "mixes": st.one_of(JSON, MIXES),
        "requests": st.one_of(JSON, st.lists(ROW, max_size=3)),
        "journeys": st.one_of(JSON, st.lists(ROW, max_size=3)),
        "started_at": JSON,
        "interrupted": JSON,
    },
)


def only_usage_errors(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except UsageError as error:
        assert "\n" not in str(error)
        return None


@FUZZ
@given(name=NAMES, value=st.one_of(MIXED_TEXT, TOML_VALUES), source=st.sampled_from(["cli", "environ", "file"]))
def test_fuzz_settings(name, value, source):
    if source == "cli":
        only_usage_errors(load_settings, {name: value}, environ=NO_ENV, cwd=EMPTY)
    elif source == "environ":
        text = value if isinstance(value, str) else json.dumps(value)
        text = text.replace("\x00", "")  # an environment cannot hold a NUL
        only_usage_errors(load_settings, environ={f"SHOPSTORM_{name.upper()}": text}, cwd=EMPTY)
    else:
        (SCRATCH / "shopstorm.toml").write_text(f"{name} = {json.dumps(value)}\n", encoding="utf-8")
        only_usage_errors(load_settings, environ=NO_ENV, config_file=str(SCRATCH / "shopstorm.toml"))


@FUZZ
@given(document=TOML_DOCUMENTS)
def test_fuzz_settings_file(document):
    (SCRATCH / "pyproject.toml").write_text(document, encoding="utf-8")
    only_usage_errors(load_settings, environ=NO_ENV, config_file=str(SCRATCH / "pyproject.toml"))


@FUZZ
@given(texts=st.lists(MIXED_TEXT, min_size=1, max_size=3))
def test_fuzz_gates(texts):
    only_usage_errors(parse_gates, texts)
    only_usage_errors(load_settings, {"gates": texts}, environ=NO_ENV, cwd=EMPTY)


@FUZZ
@given(text=SPANS)
def test_fuzz_stages_and_durations(text):
    only_usage_errors(load_settings, {"stages": text}, environ=NO_ENV, cwd=EMPTY)
    only_usage_errors(load_settings, {"run_time": text}, environ=NO_ENV, cwd=EMPTY)


@FUZZ
@given(text=URLS)
def test_fuzz_urls(text):
    host = only_usage_errors(load_settings, {"host": text}, environ=NO_ENV, cwd=EMPTY)
    if host is not None and host.host:  # an accepted URL has a host and a port that can be read
        parts = urlsplit(host.host)
        assert parts.hostname and (parts.port is None or 0 < parts.port < 65536)
    (SCRATCH / "urls.json").write_text(json.dumps({"ORDER_URL": text, "PAYMENT_URL": text, "STOCK_URL": text}))
    only_usage_errors(WebshopEndpoints.from_urls_file, str(SCRATCH / "urls.json"))


@FUZZ
@given(
    content=st.one_of(st.text(max_size=60), JSON.map(json.dumps), SUMMARIES.map(json.dumps)),
    other=SUMMARIES.map(json.dumps),
)
def test_fuzz_compare_inputs(content, other):
    (SCRATCH / "base.json").write_text(content, encoding="utf-8")
    (SCRATCH / "new.json").write_text(other, encoding="utf-8")
    only_usage_errors(parse_max_regression, content)
    base = only_usage_errors(load_summary, SCRATCH / "base.json")
    new = only_usage_errors(load_summary, SCRATCH / "new.json")
    if base is not None and new is not None:
        comparison = only_usage_errors(compare, base, new, max_regression=0.1, allow_different=True)
        if comparison is not None:
            render(comparison)
            json.dumps(comparison.as_dict())
