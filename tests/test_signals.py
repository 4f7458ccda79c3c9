"""A signal at every phase of a run (seeding, load, audit): a finished load is never lost.

Ctrl-C (SIGINT) and SIGTERM (what ``docker stop``, Kubernetes and CI runners send) each end the run with
128 + the signal's number; once the load has started, summary.json is written and says the run was interrupted;
the audit reads the shop only after every shopper has stopped, and an audit cut short says it checked nothing.
Each test waits on the event itself (a line the run prints, a request the proxy holds), never on a fixed sleep.
"""

from __future__ import annotations

import json
import signal

import pytest

from support import ChaosProxy, Run, eventually

CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def slow_finds(method: str, path: str) -> str:
    """Hold every read of the shop's state (the seed's check and the audit): the run lingers where it reads."""
    return "slow" if method == "GET" and "/find" in path else "pass"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_seeding_ends_the_run_with_nothing_written(demo_shop, tmp_path, signum):
    shop = demo_shop("sqlite", webshop_answers="json")
    out = tmp_path / "out"
    with ChaosProxy(shop.url, rule=slow_finds) as proxy:
        proxy.delay_s = 30.0  # the seed's check of its stock is held until the signal comes
        run = Run("consistency", "webshop", "--host", proxy.url, "--checkouts", "20", "--out", str(out))
        assert proxy.slowed.wait(60), "the seed never read the stock back"
        run.process.send_signal(signum)
        code, _, stderr = run.finish(timeout=20)
    assert code == CODES[signum], stderr
    assert "Traceback" not in stderr
    assert "interrupted before the load started; nothing was written" in stderr
    assert not (out / "summary.json").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_load_stops_the_shoppers_before_the_audit_reads_the_shop(demo_shop, tmp_path, signum):
    shop = demo_shop("sqlite", webshop_answers="json")
    out = tmp_path / "out"
    with ChaosProxy(shop.url, rule=lambda method, path: "pass") as proxy:
        run = Run("run", "webshop", "--host", proxy.url, "--audit", "-u", "20", "-r", "20", "-t", "60s",
                  "--think-time", "0", "--out", str(out))  # fmt: skip
        run.wait_for("load started")
        seeded = sum(proxy.counts.values())
        eventually(lambda: sum(proxy.counts.values()) >= seeded + 100, "shoppers buying", alive=run.process)
        run.process.send_signal(signum)
        code, stdout, stderr = run.finish()
    assert code == CODES[signum], stderr
    assert "Traceback" not in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["stopped_by"] == signal.Signals(signum).name
    assert summary["exit_code"] == CODES[signum]
    assert summary["totals"]["requests"] > 0 and summary["duration_s"] < 50
    # the correct shop passes: the audit read it after every shopper had stopped, cut-off calls resolved
    assert summary["audit"]["verdict"] == "pass", [r for r in summary["audit"]["invariants"] if not r["holds"]]
    assert f"(interrupted by {signal.Signals(signum).name})" in stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_audit_keeps_the_finished_load(demo_shop, tmp_path, signum):
    shop = demo_shop("sqlite", webshop_answers="json")
    out = tmp_path / "out"
    with ChaosProxy(shop.url, rule=slow_finds) as proxy:
        proxy.delay_s = 2.0  # each of the audit's reads is held: the audit lasts seconds
        run = Run("consistency", "webshop", "--host", proxy.url, "--concurrency", "40", "--users", "40",
                  "--checkouts", "40", "--out", str(out))  # fmt: skip
        run.wait_for("auditing")
        proxy.slowed.clear()
        assert proxy.slowed.wait(30), "the audit never read the shop"
        run.process.send_signal(signum)
        code, stdout, stderr = run.finish(timeout=20)
    assert code == CODES[signum], stderr
    assert "Traceback" not in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["exit_code"] == CODES[signum]
    assert summary["totals"]["requests"] >= 40  # every checkout of the finished load is kept
    assert summary["audit"]["verdict"] == "interrupted" and summary["audit"]["invariants"] == []
    assert summary["audit"]["ledger_entries"] > 0
    assert "Audit: INTERRUPTED" in stdout


def test_a_second_ctrl_c_during_the_audit_keeps_the_run_and_never_says_nothing_was_written(demo_shop, tmp_path):
    """Ctrl-C during the load, then again while the audit reads: the summary is written, the audit is marked
    interrupted, and the command does not end by claiming the load never started."""
    shop = demo_shop("sqlite", webshop_answers="json")
    out = tmp_path / "out"
    with ChaosProxy(shop.url, rule=slow_finds) as proxy:
        proxy.delay_s = 2.0  # each of the audit's reads is held: the audit lasts seconds
        run = Run("run", "webshop", "--host", proxy.url, "--audit", "-u", "10", "-r", "10", "-t", "60s",
                  "--think-time", "0", "--seed-items", "5", "--out", str(out))  # fmt: skip
        run.wait_for("load started")
        eventually(lambda: sum(proxy.counts.values()) > 50, "shoppers buying", alive=run.process)
        run.process.send_signal(signal.SIGINT)
        run.wait_for("auditing")
        proxy.slowed.clear()
        assert proxy.slowed.wait(30), "the audit never read the shop"
        run.process.send_signal(signal.SIGINT)
        code, stdout, stderr = run.finish(timeout=30)
    assert code == 130, stderr
    assert "Traceback" not in stderr and "nothing was written" not in stderr
    assert "Audit: INTERRUPTED" in stdout and "summary:" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["audit"]["verdict"] == "interrupted"
