"""A hostile or broken shop cannot crash or exhaust shopstorm: huge answers are read up to a cap and count as
unknown outcomes (resolved against state, so a correct shop behind them still passes), numbers no sum can hold
make an entity unreadable with the reason, deeply nested JSON is refused; the audit always finishes and writes
its summary."""

from __future__ import annotations

import itertools
import threading
import time

import psutil
import pytest

from shopstorm.replies import classify, read_json
from support import ChaosProxy, Run, read_summary, run_cli


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"stock": 1e400}', "a number out of range: 1e400"),
        ('{"stock": NaN}', "not a number: NaN"),
        ('{"stock": -Infinity}', "not a number: -Infinity"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"stock": 1' + "0" * 5000 + "}", "Exceeds the limit"),
    ],
)
def test_json_no_sum_can_hold_is_unreadable_with_the_reason(text, problem):
    body, why = read_json(text)
    assert body is None and why.startswith(problem)
    reply = classify(200, text, None)
    assert reply.outcome == "ok" and reply.body is None and "unreadable JSON" in reply.detail


def test_text_that_is_not_json_is_no_problem():
    assert read_json("Item: 5 stock updated to: 3") == (None, None)
    assert read_json('{"stock": 3}') == ({"stock": 3}, None)


def checkouts(behaviour: str):
    def rule(method: str, path: str) -> str:
        return behaviour if "/orders/checkout/" in path else "pass"

    return rule


def peak_rss_mb(process: psutil.Process, stop: threading.Event, peak: list[float]) -> None:
    while not stop.is_set():
        try:
            family = [process, *process.children(recursive=True)]
            peak[0] = max(peak[0], sum(p.memory_info().rss for p in family) / 1e6)
        except psutil.Error:
            pass
        time.sleep(0.05)


def test_a_thousand_ten_megabyte_answers_are_unknowns_in_bounded_memory(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    out = tmp_path / "out"
    with ChaosProxy(shop.url, rule=checkouts("huge-body")) as proxy:
        run = Run("consistency", "webshop", "--host", proxy.url, "--out", str(out))
        stop, peak = threading.Event(), [0.0]
        watcher = threading.Thread(target=peak_rss_mb, args=(psutil.Process(run.process.pid), stop, peak))
        watcher.start()
        try:
            code, stdout, stderr = run.finish(timeout=170)
        finally:
            stop.set()
            watcher.join()
    assert "Traceback" not in stderr
    summary = read_summary(out)
    assert proxy.counts["huge-body"] == 1000
    # the checkouts happened in the shop: unknown to the shoppers, resolved against state, the correct shop passes
    assert code == 0, stdout[-3000:]
    assert summary["audit"]["verdict"] == "pass"
    assert summary["audit"]["checkouts"]["unknown"] == 1000
    assert summary["audit"]["unknowns"]["checkout"]["happened"] == 100
    reasons = {failure["error"] for failure in summary["failures"]}
    assert any("answer larger than 1000000 bytes" in reason for reason in reasons), reasons
    print(f"peak RSS of the run: {peak[0]:.0f} MB")
    assert peak[0] < 300, f"peak RSS {peak[0]:.0f} MB"


def test_a_chunked_answer_over_the_cap_is_cut_off_and_unknown(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    out = tmp_path / "out"
    with ChaosProxy(shop.url, rule=checkouts("huge-chunked")) as proxy:
        result = run_cli("consistency", "webshop", "--host", proxy.url, "--checkouts", "30", "--concurrency", "10",
                         "--max-body", "200000", "--out", str(out), timeout=120)  # fmt: skip
    assert "Traceback" not in result.stderr
    summary = read_summary(out)
    assert result.returncode == 0, result.stdout[-3000:]
    assert summary["audit"]["checkouts"]["unknown"] == 30 and summary["audit"]["verdict"] == "pass"
    assert any("answer larger than 200000 bytes" in f["error"] for f in summary["failures"])


def test_a_stock_no_sum_can_hold_is_unreadable_and_the_audit_still_writes_its_summary(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    out = tmp_path / "out"
    finds = itertools.count()

    def rule(method: str, path: str) -> str:  # the seed's own check reads the truth; the audit does not
        return "huge-number" if "/stock/find/" in path and next(finds) > 0 else "pass"

    with ChaosProxy(shop.url, rule=rule) as proxy:
        result = run_cli("consistency", "webshop", "--host", proxy.url, "--checkouts", "20", "--concurrency", "20",
                         "--out", str(out), timeout=120)  # fmt: skip
    assert "Traceback" not in result.stderr
    assert proxy.counts["huge-number"] >= 1
    summary = read_summary(out)
    assert result.returncode == 3
    row = next(r for r in summary["audit"]["invariants"] if r["invariant"] == "state_readable")
    assert not row["holds"] and "out of range" in row["worst"]["observed"], row


def test_a_deeply_nested_answer_to_a_seed_is_one_line_and_exit_4(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    with ChaosProxy(shop.url, rule=lambda method, path: "deep-json" if "create" in path else "pass") as proxy:
        result = run_cli("consistency", "webshop", "--host", proxy.url, "--seed-mode", "create", "--checkouts", "5",
                         "--out", str(tmp_path / "out"), timeout=60)  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "nested too deeply" in result.stderr
