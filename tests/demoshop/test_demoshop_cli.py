"""The demo shop's command line and launcher: ready file, banner, clean stop, one-line errors with exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from shopstorm.demoshop.cli import main
from shopstorm.demoshop.process import DemoShopError, DemoShopProcess
from support import eventually


def _run_shop(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shopstorm.demoshop", "--port", "0", *arguments],
        capture_output=True,
        text=True,
        timeout=30,
    )


def _assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> None:
    assert result.returncode == code, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_serves_writes_the_ready_file_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    ready_file = tmp_path / "ready.json"
    database = tmp_path / "shop.db"
    options = ["--store", f"sqlite:///{database}", "--fault", "stall", "--fault", "no-rollback"]
    shop = subprocess.Popen(
        [sys.executable, "-m", "shopstorm.demoshop", "--port", "0", *options, "--ready-file", str(ready_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        eventually(ready_file.exists, "the shop's ready file", timeout=20, alive=shop)
        ready = json.loads(ready_file.read_text())
        assert ready["pid"] == shop.pid
        assert ready["url"].startswith("http://127.0.0.1:")
        health = requests.get(f"{ready['url']}/health", timeout=5).json()
        assert health == {"status": "ok", "faults": ["no-rollback", "stall"]}
    finally:
        shop.send_signal(signal.SIGTERM)
        stdout, stderr = shop.communicate(timeout=10)
    assert shop.returncode == 0, stderr
    assert stdout.strip() == (
        f"demo shop: {ready['url']} (webshop API, storefront, /v1 checkout API; store: sqlite {database}; "
        "faults: no-rollback, stall)"
    )


def test_unknown_fault_is_a_usage_error() -> None:
    result = _run_shop("--fault", "lost-updates")
    _assert_one_line_error(result, 2)
    assert "unknown fault 'lost-updates'" in result.stderr


@pytest.mark.parametrize("store", ["mysql://localhost/shop", "sqlite://", "postgresql://localhost", "::not a url::"])
def test_bad_store_url_is_a_usage_error(store: str) -> None:
    _assert_one_line_error(_run_shop("--store", store), 2)


def test_unreachable_postgresql_exits_4_without_showing_the_password(free_port: int) -> None:
    result = _run_shop("--store", f"postgresql://shopper:s3cret@127.0.0.1:{free_port}/shop")
    _assert_one_line_error(result, 4)
    assert "s3cret" not in result.stderr + result.stdout
    assert f"127.0.0.1:{free_port}/shop" in result.stderr


def test_main_returns_the_exit_code_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "0", "--fault", "nope"]) == 2
    assert capsys.readouterr().err.startswith("demo shop: unknown fault 'nope'")


def test_launcher_reports_a_shop_that_exits_before_it_is_ready() -> None:
    with pytest.raises(DemoShopError, match=r"exited with code 2 .*unknown fault 'nope'"):
        DemoShopProcess(faults=["nope"]).start()


def test_launcher_serves_the_default_store_and_stops_the_process() -> None:
    with DemoShopProcess(port=0) as shop:
        assert requests.post(f"{shop.url}/payment/create_user", timeout=5).status_code == 200
    assert shop.process is not None
    assert shop.process.returncode == 0
    with pytest.raises(DemoShopError):
        _ = shop.url
