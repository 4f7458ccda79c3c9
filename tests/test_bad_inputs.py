"""A hostile user's inputs, through the real CLI and the parsers: every bad input is one line on stderr and exit
code 2 before any load starts or any file is written, and a password inside a URL is never written anywhere.
Each test here failed before these inputs were checked at start (a traceback, exit 0 or 4, a summary lost after
the load, a password in summary.json); test_fuzz_inputs.py holds the parsers to the same promise at random."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest

from shopstorm.demoshop.process import DemoShopProcess
from shopstorm.errors import UsageError
from shopstorm.settings import Settings, load_settings
from support import run_cli
from test_cli_errors import assert_one_line_error

DEEP_JSON = "[" * 100_000 + "]" * 100_000
NO_ENV: dict[str, str] = {}


def run_against(shop_url: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    return run_cli("run", "webshop", "--host", shop_url, "-u", "2", "-r", "2", *args, env=env, cwd=cwd)


def assert_no_load(result: subprocess.CompletedProcess, tmp_path: Path) -> None:
    assert "load started" not in result.stdout, result.stdout
    assert not list(tmp_path.rglob("summary.json"))


# --- the settings file --------------------------------------------------------------------------------------------


NOT_TABLES = [
    ("tool = 3\n", "'tool' must be a table"),
    ('[tool]\nshopstorm = "x"\n', "'tool.shopstorm' must be a table"),
]


@pytest.mark.parametrize("name", ["shopstorm.toml", "pyproject.toml"])
@pytest.mark.parametrize(("content", "phrase"), NOT_TABLES)
def test_a_settings_file_whose_tool_is_not_a_table_is_exit_2(tmp_path, name, content, phrase):
    (tmp_path / name).write_text(content)
    result = run_cli("run", "webshop", "--host", "http://127.0.0.1:9", cwd=tmp_path)
    assert_one_line_error(result, 2, phrase, name)


def test_a_settings_file_nested_too_deeply_is_exit_2(tmp_path):
    (tmp_path / "shopstorm.toml").write_text("host = " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert_one_line_error(run_cli("run", "webshop", cwd=tmp_path), 2, "shopstorm.toml")


# --- where the results go ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "where", "phrase"),
    [("--out", "file/out", "is a file, not a folder"), ("--out", "file", "is a file, not a folder"),
     ("--junit", "file/junit.xml", "is a file, not a folder"), ("--junit", ".", "is a folder, not a file"),
     ("--out", "/proc/shopstorm-out", "cannot write in /proc"), ("--junit", "/proc/version", "cannot write it")],
)  # fmt: skip
def test_an_unwritable_out_or_junit_is_exit_2_before_the_load(demo_shop, tmp_path, option, where, phrase):
    shop = demo_shop("sqlite")
    (tmp_path / "file").write_text("a regular file\n")
    args = ["-t", "3s", option, str(tmp_path / where)]
    if option == "--junit":
        args += ["--out", str(tmp_path / "out")]
    result = run_against(shop.url, *args, cwd=tmp_path)
    assert_one_line_error(result, 2, option, phrase)
    assert_no_load(result, tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only folder")
@pytest.mark.parametrize("option", ["--out", "--junit"])
def test_a_read_only_folder_is_exit_2_before_the_load(demo_shop, tmp_path, option):
    shop = demo_shop("sqlite")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    target = locked / ("out" if option == "--out" else "junit.xml")
    extra = ["--out", str(tmp_path / "out")] if option == "--junit" else []
    result = run_against(shop.url, "-t", "3s", option, str(target), *extra, cwd=tmp_path)
    assert_one_line_error(result, 2, option, "cannot write")
    assert_no_load(result, tmp_path)


@pytest.mark.parametrize("bound", ["nan", "inf", "1e999%"])
def test_compare_max_regression_must_be_finite(tmp_path, bound):
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"schema": "shopstorm.summary/1", "target": "webshop"}))
    result = run_cli("compare", str(summary), str(summary), "--max-regression", bound)
    assert_one_line_error(result, 2, "bad --max-regression")


def test_compare_json_unwritable_is_exit_2(tmp_path):
    (tmp_path / "file").write_text("a regular file\n")
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"schema": "shopstorm.summary/1", "target": "webshop"}))
    result = run_cli("compare", str(summary), str(summary), "--json", str(tmp_path / "file" / "c.json"))
    assert_one_line_error(result, 2, "--json", "is a file, not a folder")
    assert result.stdout == ""


# --- durations, floats, ports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "phrase"),
    [(["-t", "99999999999999999999h"], "at most 30 days"), (["-t", "2592001"], "at most 30 days"),
     (["--stages", "99999999999999999999h:5"], "at most 30 days"), (["-t", "9" * 5000], "at most 30 days"),
     (["--think-time", "nan"], "setting think_time"), (["--think-time", "0-inf"], "setting think_time"),
     (["--arrival-rate", "inf"], "setting arrival_rate"), (["-r", "nan"], "setting spawn_rate"),
     (["--request-timeout", "1e300"], "at most 2592000 seconds"),
     (["--gate", "checkout p95<1" + "0" * 400], "number too large")],
)  # fmt: skip
def test_durations_are_bounded_and_numbers_finite(tmp_path, free_port, args, phrase):
    result = run_cli("run", "webshop", "--host", f"http://127.0.0.1:{free_port}", *args, cwd=tmp_path, timeout=30)
    assert_one_line_error(result, 2, phrase)


FLOAT_SETTINGS = [f.name for f in fields(Settings) if "float" in str(f.type)]
NOT_FINITE = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", float("nan"), float("inf")]


def test_every_float_setting_is_known():
    assert {"think_time", "spawn_rate", "arrival_rate", "max_lateness", "settle_timeout", "user_speed",
            "request_timeout", "double_submit"} <= set(FLOAT_SETTINGS)  # fmt: skip


@pytest.mark.parametrize("name", FLOAT_SETTINGS)
@pytest.mark.parametrize("value", NOT_FINITE)
def test_every_float_setting_must_be_finite_from_every_source(tmp_path, name, value):
    env_name = f"SHOPSTORM_{name.upper()}"
    for source in ({"cli": {name: value}}, {"environ": {env_name: str(value)}}):
        with pytest.raises(UsageError, match=f"setting {name}"):
            load_settings(**{"environ": NO_ENV, "cwd": tmp_path, **source})
    (tmp_path / "shopstorm.toml").write_text(f"{name} = {json.dumps(str(value))}\n")
    with pytest.raises(UsageError, match=f"setting {name}"):
        load_settings(environ=NO_ENV, cwd=tmp_path)


@pytest.mark.parametrize("name", [f for f in FLOAT_SETTINGS if f != "double_submit"])
def test_every_float_setting_refuses_negatives(tmp_path, name):
    with pytest.raises(UsageError, match=f"setting {name}"):
        load_settings({name: "-1"}, environ=NO_ENV, cwd=tmp_path)


def test_web_port_out_of_range_is_exit_2(tmp_path, free_port):
    result = run_cli("run", "webshop", "--host", f"http://127.0.0.1:{free_port}", "--web-port", "99999", cwd=tmp_path)
    assert_one_line_error(result, 2, "setting web_port", "65535")


def test_webhook_port_out_of_range_is_exit_2(tmp_path, free_port):
    args = ["run", "checkout-api", "--host", f"http://127.0.0.1:{free_port}", "--webhook-port", "70000", "-t", "2s"]
    assert_one_line_error(run_cli(*args, cwd=tmp_path), 2, "setting webhook_port")


def test_web_port_in_use_is_exit_2_before_the_shop_is_seeded(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_against(shop.url, "--web-port", str(port), cwd=tmp_path)
    assert_one_line_error(result, 2, f"127.0.0.1:{port}", "in use")
    assert_no_load(result, tmp_path)


def test_webhook_port_in_use_is_exit_2_before_the_shop_is_seeded(tmp_path, free_port):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["run", "checkout-api", "--host", f"http://127.0.0.1:{free_port}", "--webhook-port", str(port)]
        result = run_cli(*args, "-t", "2s", env={"LOAD_TEST_API_TOKEN": "token"}, cwd=tmp_path)
    assert_one_line_error(result, 2, "webhook receiver", f"127.0.0.1:{port}", "--webhook-port")


@pytest.mark.parametrize(("port", "phrase"), [("abc", "invalid int value: 'abc'"), ("70000", "between 0 and 65535")])
def test_shop_port_is_one_line_and_exit_2(port, phrase):
    assert_one_line_error(run_cli("shop", "--port", port, timeout=30), 2, phrase)


def test_shop_port_in_use_is_one_line_and_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_cli("shop", "--port", str(taken.getsockname()[1]), timeout=30)
    assert_one_line_error(result, 2)


# --- deep JSON and bad URLs ----------------------------------------------------------------------------------------


def test_a_deeply_nested_urls_file_is_exit_2(tmp_path):
    (tmp_path / "urls.json").write_text(DEEP_JSON)
    result = run_cli("run", "webshop", "--urls", str(tmp_path / "urls.json"), cwd=tmp_path)
    assert_one_line_error(result, 2, "urls file", "nested too deeply")


def test_a_deeply_nested_compare_input_is_exit_2(tmp_path):
    (tmp_path / "deep.json").write_text(DEEP_JSON)
    result = run_cli("compare", str(tmp_path / "deep.json"), str(tmp_path / "deep.json"))
    assert_one_line_error(result, 2, "deep.json", "nested too deeply")


@pytest.mark.parametrize(
    "host", ["http://\udcff\udcfe", "http://sh\udcffop:80", "http://exa mple.com", "http://-/", "http://..",
             "http://a..b/", "http://sh\top", "http://127.0.0.1:0"],
)  # fmt: skip
def test_shopstorm_host_that_is_not_a_url_is_exit_2(tmp_path, host):
    result = run_cli("run", "webshop", "-t", "2s", env={"SHOPSTORM_HOST": host}, cwd=tmp_path, timeout=30)
    assert_one_line_error(result, 2, "setting host", "$SHOPSTORM_HOST")


@pytest.mark.parametrize("host", ["http://order_service:5000", "http://[::1]:8080/", "https://shop.example./api"])
def test_hosts_that_are_urls_are_accepted(tmp_path, host):
    assert load_settings({"host": host}, environ=NO_ENV, cwd=tmp_path).host == host.rstrip("/")


# --- a password in a URL --------------------------------------------------------------------------------------------


def test_a_password_in_the_host_url_is_written_nowhere(tmp_path):
    shop = DemoShopProcess(store=f"sqlite:///{tmp_path / 'shop.db'}", basic_auth="user:s3cret").start()
    try:
        host = shop.url.replace("http://", "http://user:s3cret@")
        out = tmp_path / "out"
        result = run_against(host, "-t", "3s", "--out", str(out), "--junit", str(out / "junit.xml"),
                             "--gate", "fail_ratio<50%", "--html", str(out / "locust.html"), "--csv", str(out / "csv"),
                             cwd=tmp_path)  # fmt: skip
    finally:
        shop.stop()
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["totals"]["requests"] > 0 and summary["totals"]["failures"] == 0  # the password was used
    assert summary["settings"]["host"] == host.replace("s3cret", "***")
    written = sorted(path.name for path in out.iterdir())
    assert {"summary.json", "junit.xml", "locust.html", "locust-stats.json"} <= set(written), written
    for path in out.iterdir():
        assert "s3cret" not in path.read_text(errors="replace"), path.name
    assert "s3cret" not in result.stdout + result.stderr


def test_a_password_in_the_host_url_is_masked_in_error_lines(tmp_path, free_port):
    result = run_cli("run", "webshop", "--host", f"http://user:s3cret@127.0.0.1:{free_port}", "-t", "2s", cwd=tmp_path)
    assert_one_line_error(result, 4, "http://user:***@127.0.0.1")
    assert "s3cret" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("text", "masked"),
    [("POST http://user:s3cret@shop:80/x: refused", "POST http://user:***@shop:80/x: refused"),
     ("https://u:p@ss@shop/ and http://a:b@c", "https://u:***@shop/ and http://a:***@c"),
     ("http://shop:8080/path", "http://shop:8080/path"), ("http://user@shop", "http://user@shop")],
)  # fmt: skip
def test_mask_url_credentials(text, masked):
    from shopstorm.redaction import mask_url_credentials, mask_url_credentials_in  # a new module: imported here

    assert mask_url_credentials(text) == masked
    assert mask_url_credentials_in({text: [text, (text,)]}) == {masked: [masked, [masked]]}
