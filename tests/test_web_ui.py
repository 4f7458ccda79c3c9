"""Locust's web UI keeps working under shopstorm: start from the UI's web API, read live stats, stop."""

from __future__ import annotations

import signal
import subprocess
import time

import psutil
import requests

from support import cli_env, eventually, read_summary, shopstorm_command


def stats_state(ui: str) -> str:
    """The run's state as the web UI shows it (Locust caches /stats/requests for a few seconds)."""
    return requests.get(ui + "/stats/requests", timeout=5).json()["state"]


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def test_web_ui_swarm_stats_stop(demo_shop, tmp_path, free_port):
    shop = demo_shop("sqlite")
    out = tmp_path / "out"
    ui = f"http://127.0.0.1:{free_port}"
    command = shopstorm_command("run", "webshop", "--host", shop.url, "--web-port", str(free_port),
                                "--think-time", "0.05-0.1", "--seed-items", "10", "--out", str(out))  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    try:
        eventually(lambda: answers(ui + "/"), "the web UI", timeout=20, alive=process)
        # The UI can start load against the shop: without --web-host it listens on loopback only.
        listening = {c.laddr.ip for c in psutil.Process(process.pid).net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == free_port}  # fmt: skip
        assert listening == {"127.0.0.1"}
        swarm = requests.post(ui + "/swarm", data={"user_count": 4, "spawn_rate": 4, "host": shop.url}, timeout=5)
        assert swarm.status_code == 200 and swarm.json()["success"] is True
        time.sleep(4)
        stats = requests.get(ui + "/stats/requests", timeout=5).json()
        names = {row["name"]: row for row in stats["stats"]}
        assert names["/orders/checkout/[order_id]"]["num_requests"] > 0
        assert stats["user_count"] == 4
        assert requests.post(ui + "/stop", timeout=10).json()["success"] is True
        eventually(lambda: stats_state(ui) == "stopped", "the run to stop", timeout=10, every=0.5)
        process.send_signal(signal.SIGINT)  # the UI's way to end shopstorm: Ctrl-C, and the summary is written
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert "Traceback" not in stderr
    summary = read_summary(out)
    assert summary["totals"]["requests"] > 0
    assert {row["name"] for row in summary["journeys"]} >= {"checkout_one", "refused_no_credit"}
