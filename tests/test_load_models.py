"""Load models and measurement through the real CLI: the open model corrects coordinated omission, iteration
budgets and rate stages end runs by themselves, the time series is written, and a saturated generator is named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shopstorm.metrics.arrivals import ArrivalSchedule
from shopstorm.setting_values import parse_stages
from support import cli_env, journeys_by_name, read_summary, run_cli

LOCUSTFILES = Path(__file__).parent / "locustfiles"


def test_open_model_measures_the_stall_that_service_time_hides(demo_shop, tmp_path):
    shop = demo_shop("sqlite", faults=["stall"])  # every 5 s, every response is held for 1 s
    out = tmp_path / "out"
    result = run_cli(
        "run", "webshop", "--host", shop.url, "--arrival-rate", "50", "--max-users", "1", "-t", "12s",
        "--journey", "admin_restock", "--seed-items", "5", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = read_summary(out)
    restock = journeys_by_name(summary)["admin_restock"]
    from_intended = restock["latency_from_intended_start_ms"]["p99"]
    service = restock["latency_ms"]["p99"]
    # Arrivals queued behind the one stalled shopper are late by up to 1 s: the open model sees it ...
    assert from_intended >= 900, (from_intended, service)
    # ... while the service time — what a closed-loop tool reports — hides it.
    assert service < from_intended / 3, (from_intended, service)
    load = summary["load"]
    assert load["model"] == "open"
    assert 0 <= load["started"] - restock["count"] <= 1  # one arrival may still be running when the time is up
    # every arrival due by the end (50/s after the 1 s lead) either started or was dropped, within half a second
    due = 50 * (summary["duration_s"] - 1.0)
    assert abs(load["started"] + load["dropped"] - due) <= 25, (load, summary["duration_s"])
    # the live line (every 10 s in a log) counts arrivals, not the pool of one shopper allocated up front
    live = [line for line in result.stdout.splitlines() if "req/s" in line and "s/12s" in line]
    assert live and all(" arrivals " in line and " users " not in line for line in live), result.stdout[-2000:]
    assert "Journeys from intended start (open model)" in result.stdout


def test_iterations_end_a_closed_run_by_itself(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    out = tmp_path / "out"
    result = run_cli("run", "webshop", "--host", shop.url, "-u", "5", "-r", "5", "--iterations", "30",
                     "--think-time", "0", "--seed-items", "10", "--out", str(out), timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = read_summary(out)
    assert sum(row["count"] for row in summary["journeys"]) == 30
    assert summary["load"] == {"model": "closed", "iterations": 30}


def test_iterations_and_stages_in_the_open_model_across_two_processes(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    out = tmp_path / "out"
    result = run_cli("run", "webshop", "--host", shop.url, "--arrival-rate", "5", "--stages", "3s:20,3s:0",
                     "--max-users", "20", "--seed-items", "10", "--out", str(out), "--processes", "2",
                     timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = read_summary(out)
    load = summary["load"]
    expected = ArrivalSchedule(5, parse_stages("3s:20,3s:0")).count_until(6)  # 37.5 + 30
    assert load["started"] + load["dropped"] in (int(expected), int(expected) + 1), load
    assert sum(row["count"] for row in summary["journeys"]) == load["started"]
    assert summary["generators"]["workers"] == 2
    assert summary["duration_s"] < 20  # ended with the schedule, not at a time limit

    out2 = tmp_path / "out2"
    result = run_cli("run", "webshop", "--host", shop.url, "--arrival-rate", "20", "--iterations", "40",
                     "--seed-items", "10", "--out", str(out2), "--processes", "2", timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = read_summary(out2)
    assert summary["load"]["started"] == 40 == sum(row["count"] for row in summary["journeys"])


def test_time_series_has_points_with_window_percentiles(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    out = tmp_path / "out"
    result = run_cli("run", "webshop", "--host", shop.url, "-u", "5", "-r", "5", "-t", "11s",
                     "--think-time", "0.05-0.1", "--seed-items", "10", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    points = read_summary(out)["timeseries"]
    assert len(points) >= 2
    for point in points:
        assert point["users"] == 5 and point["rps"] > 0
        assert 0 < point["p50"] <= point["p95"] <= point["p99"]


def test_saturated_generator_is_named_in_summary_and_terminal(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILES / "cpu_hog.py"), "--headless", "-u", "4",
               "-r", "4", "-t", "8s", "--host", shop.url, "--only-summary"]  # fmt: skip
    env = cli_env({"SHOPSTORM_HOST": shop.url, "SHOPSTORM_OUT": str(out), "SHOPSTORM_SEED_ITEMS": "3"})
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    generators = read_summary(out)["generators"]
    assert generators["saturated"] is True, generators
    assert "--processes" in generators["warning"]
    assert "WARNING: the load generator was saturated" in result.stdout


def test_arrival_schedule_inverts_its_own_count():
    schedule = ArrivalSchedule(5, parse_stages("3s:20,3s:0,2s:0"))
    assert schedule.duration == 8
    assert round(schedule.count_until(6), 6) == 67.5
    for k in range(67):
        at = schedule.time_of(k)
        assert at is not None and abs(schedule.count_until(at) - k) < 1e-6
    assert schedule.time_of(68) is None
    constant = ArrivalSchedule(10, duration=2)
    assert [constant.time_of(k) for k in (0, 1, 19)] == [0.0, 0.1, 1.9] and constant.time_of(20) is None


def test_a_locustfile_whose_shoppers_run_without_the_engine_is_told_how_to_load_it(tmp_path):
    """The journeys sit below the engine and do not import it: a plain `locust -f` file that imports shoppers from
    shopstorm.journeys alone is refused at init (exit 2, shopstorm.locust named), not run without seed or summary."""
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILES / "without_engine.py"), "--headless", "-u", "1",
               "-t", "5s", "--host", "http://127.0.0.1:9"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=cli_env({}), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "import them from shopstorm.locust" in result.stderr
    assert "Traceback" not in result.stderr


def readme_locustfile() -> str:
    """The README's own locustfile example, as a user would copy it."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Writing your own journeys") :]
    return section[section.index("```python") + len("```python") : section.index("```", section.index("```python") + 3)]


@pytest.mark.parametrize("host_from", ["--host", "SHOPSTORM_HOST"])
def test_the_readmes_plain_locust_example_runs_with_locusts_own_flags(demo_shop, tmp_path, host_from):
    """`locust -f` on the README's example: Locust's --host (or shopstorm's SHOPSTORM_HOST alone), -t and -u are the
    run's; shopstorm's table and summary are written once, Locust's own tables go to locust-stats.json."""
    shop = demo_shop("sqlite")
    (tmp_path / "my_locustfile.py").write_text(readme_locustfile())
    command = [sys.executable, "-m", "locust", "-f", "my_locustfile.py", "-t", "4s", "--headless", "-u", "3", "-r", "3"]
    env = {"SHOPSTORM_SEED_ITEMS": "5"}
    if host_from == "--host":
        command += ["--host", shop.url]
    else:
        env["SHOPSTORM_HOST"] = shop.url
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=cli_env(env), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "load started for 4 s" in result.stdout
    assert "Response time percentiles" not in result.stdout + result.stderr  # Locust's stock tables, not twice
    summary = read_summary(tmp_path / "shopstorm-out")
    assert summary["totals"]["requests"] > 0 and summary["settings"]["host"] == shop.url
    assert (tmp_path / "shopstorm-out" / "locust-stats.json").exists()
