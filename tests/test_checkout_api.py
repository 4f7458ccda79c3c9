"""The checkout-api target against the demo shop's checkout API: the flow, Polar's weighted mix and the provider's
inbound events run clean on SQLite and PostgreSQL with settlement and webhook delivery latencies in the summary;
the audit passes a correct shop five times and names the right finding for each webhook and worker fault; a wrong
token stops the run at the start; Polar's environment names and thresholds work."""

from __future__ import annotations

import subprocess
import time
from urllib.parse import urlsplit

import gevent
import psutil
import pytest
import requests

from shopstorm.audit.ledger import STOPPED, Entry
from shopstorm.settings import load_settings
from shopstorm.targets.checkout_api import CheckoutApiTarget
from support import cli_env, eventually, journeys_by_name, read_summary, run_cli, shopstorm_command

TOKEN = "polar_pat_shopstorm_test_token"
PROVIDER_SECRET = "whsec_shopstorm_provider_test_secret"
SECRETS = {"api_token": TOKEN, "stripe_secret": PROVIDER_SECRET}
CREDENTIALS = {"LOAD_TEST_API_TOKEN": TOKEN, "SHOPSTORM_PROVIDER_SECRET": PROVIDER_SECRET}


def checkout_run(url: str, out, *extra: str, env: dict[str, str] | None = None, timeout: float = 150):
    result = run_cli("run", "checkout-api", "--host", url, *extra, "--out", str(out),
                     env={**CREDENTIALS, **(env or {})}, timeout=timeout)  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


def violated(summary: dict) -> dict[str, int]:
    return {row["invariant"]: row["count"] for row in summary["audit"]["invariants"] if not row["holds"]}


@pytest.mark.parametrize("mix", ["payments", "polar"])
@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_flow_and_the_polar_mix_run_clean_with_settlement_and_delivery_latencies(demo_shop, tmp_path, store, mix):
    shop = demo_shop(store, **SECRETS)
    out = tmp_path / "out"
    seconds = "6s" if mix == "payments" else "4s"  # the polar mix makes many checkouts for the audit to read back
    think = ["--think-time", "0-0.2"] if mix == "polar" else []  # Polar's 1-5 s waits would leave a 4 s run empty
    result = checkout_run(shop.url, out, "--mix", mix, "-u", "6", "-r", "6", "-t", seconds, "--audit", *think)
    assert result.returncode == 0, result.stdout[-3000:]
    summary = read_summary(out)
    assert summary["totals"]["failures"] == 0, summary["failures"]
    assert summary["audit"]["verdict"] == "pass", violated(summary)
    journeys = journeys_by_name(summary)
    for name, row in journeys.items():
        assert row["failed"] == 0, (name, row["failure_reasons"])
    webhooks = summary["webhooks"]
    assert webhooks["rejected"] == 0 and webhooks["valid"] > 0
    paid = webhooks["delivery_ms"]["order.paid"]
    assert paid["count"] > 0 and 0 < paid["p50"] <= paid["p95"] <= paid["p99"] <= paid["max"]
    if mix == "payments":
        assert {"checkout_flow", "inbound_payment", "settlement"} <= set(journeys)
        settlement = journeys["settlement"]["latency_ms"]
        assert journeys["settlement"]["count"] > 0 and 0 < settlement["p50"] <= settlement["p99"]
        # The audit (passed above) proved exactly one order.paid per succeeded checkout. Delivery latency is measured
        # from the confirm's answer, so a checkout whose confirm answer the end of the run cut off has none.
        assert journeys["settlement"]["count"] <= paid["count"] <= summary["audit"]["checkouts"]["succeeded"]
        assert summary["webhooks"]["by_type"]["order.paid"] == summary["audit"]["checkouts"]["succeeded"]
        assert "Webhooks (confirm → delivery, ms)" in result.stdout
        row = next(line.split() for line in result.stdout.splitlines() if line.startswith("order.paid "))
        assert int(row[1]) == paid["count"]
        assert float(row[-1]) == pytest.approx(paid["count"] / summary["duration_s"], abs=0.06)  # per second
    else:
        assert set(journeys) == {"polar_checkout_flow"} and journeys["polar_checkout_flow"]["count"] > 0
        calls = {f"{row['method']} {row['name']}": row["count"] for row in summary["requests"]}
        confirms = calls["POST /v1/checkouts/client/[client_secret]/confirm"]
        assert confirms > 0 and calls["POST /v1/checkouts/"] >= 4 * confirms  # Polar's sequence: create x4 …


@pytest.mark.parametrize("run", range(5))  # five separate runs, each on a fresh shop
def test_the_audit_finds_nothing_on_the_correct_shop(demo_shop, tmp_path, run):
    shop = demo_shop("sqlite", **SECRETS)
    out = tmp_path / "out"
    result = checkout_run(shop.url, out, "--mix", "payments", "-u", "6", "-r", "6", "-t", "3s", "--audit")
    assert result.returncode == 0, result.stdout[-3000:]
    audit = read_summary(out)["audit"]
    assert audit["violations"] == 0, violated(read_summary(out))
    checked = {row["invariant"]: row["checked"] for row in audit["invariants"]}
    assert checked["order_paid_once"] == audit["checkouts"]["succeeded"] > 0
    assert "stock_conserved" not in checked  # Polar's products count no stock, and the seed gives none (row 11)


def test_a_confirm_cut_off_by_the_end_of_the_run_that_commits_late_is_not_a_finding(demo_shop, tmp_path):
    """The end of a run cuts a confirm off; the shop commits it a moment later and sends its order.paid. The audit
    must not take its first read (open) as final, nor hold that read against the event that came after it."""
    shop = demo_shop("sqlite", **SECRETS)
    settings = load_settings({"host": shop.url, "api_token": TOKEN}, environ={}, cwd=tmp_path)
    target = CheckoutApiTarget(settings)
    target.seed_data = target.seed()
    try:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        body = {"products": [target.seed_data["product_id"]], "customer_email": "late@shopstorm.dev"}
        checkout = session.post(shop.url + "/v1/checkouts/", json=body, timeout=10).json()
        cid, secret, now = checkout["id"], checkout["client_secret"], time.time()
        entries = [
            Entry("created", cid, secret, checkout["amount"], "ok", "HTTP 201", now),
            Entry("confirm", cid, secret, checkout["amount"], "unknown", STOPPED, now),
        ]

        def confirm_late() -> int:
            time.sleep(1.0)  # a real OS thread: the audit's first reads see the checkout still open
            url = f"{shop.url}/v1/checkouts/client/{secret}/confirm"
            return session.post(url, json={"customer_email": "late@shopstorm.dev"}, timeout=10).status_code

        late = gevent.get_hub().threadpool.spawn(confirm_late)
        result = target.audit(entries)
        assert late.get(timeout=10) == 200
    finally:
        target.finish()
    assert not any(result.findings.values()), result.findings
    assert result.checkouts["succeeded"] == 1
    assert (result.unknowns["confirm"].happened, result.unknowns["confirm"].not_happened) == (1, 0)
    assert result.checked["order_paid_once"] == 1


@pytest.mark.parametrize(
    ("fault", "caught_by"),
    [
        ("webhook-drop", {"order_paid_once"}),  # one order.paid in five never sent
        ("webhook-dup", {"order_paid_once"}),  # order.paid sent twice under two webhook ids
        ("slow-worker", {"confirm_settled"}),  # settlement lags the confirms: stuck, with their age
        ("stale-status", {"confirm_settled", "no_event_unsettled", "one_order_per_checkout"}),
    ],
)
def test_each_fault_is_caught_by_the_right_finding(demo_shop, tmp_path, fault, caught_by):
    shop = demo_shop("sqlite", faults=[fault], **SECRETS)
    out = tmp_path / "out"
    # a lost event or a stuck checkout makes the audit wait the whole settle timeout: keep it short
    result = checkout_run(shop.url, out, "-u", "6", "-r", "6", "-t", "4s", "--audit", "--settle-timeout", "3")
    assert result.returncode == 3, result.stdout[-3000:]
    summary = read_summary(out)
    assert set(violated(summary)) == caught_by, violated(summary)
    rows = {row["invariant"]: row for row in summary["audit"]["invariants"]}
    if fault == "slow-worker":
        assert "stuck in confirmed for" in rows["confirm_settled"]["worst"]["observed"]
        assert rows["confirm_settled"]["worst"]["ledger"]  # the acknowledged confirm, as evidence
    if fault == "webhook-dup":
        assert rows["order_paid_once"]["count"] == summary["audit"]["checkouts"]["succeeded"]
        assert "2 order.paid events" in rows["order_paid_once"]["worst"]["observed"]


def test_two_processes_share_one_receiver_and_one_audit(demo_shop, tmp_path):
    shop = demo_shop("sqlite", **SECRETS)
    out = tmp_path / "out"
    # a count of journeys, not a time: each process runs its half however slow the machine (the time is a bound)
    result = checkout_run(shop.url, out, "--mix", "payments", "-u", "6", "-r", "6", "--iterations", "12", "-t", "90s",
                          "--audit", "--processes", "2")  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    summary = read_summary(out)
    assert summary["generators"]["workers"] == 2 and min(summary["generators"]["requests_by_worker"]) > 0
    assert summary["audit"]["violations"] == 0, violated(summary)
    settled = summary["audit"]["checkouts"]["succeeded"]
    assert summary["webhooks"]["by_type"]["order.paid"] == settled > 0  # one receiver saw both workers' checkouts
    assert summary["webhooks"]["rejected"] == 0, summary["webhooks"]["rejected_by_reason"]  # every one was the run's


def test_a_worker_slow_to_quit_still_delivers_its_ledger_to_the_audit(demo_shop, tmp_path):
    """Locust's master waits half a second for its workers' final reports. A worker paused across the end of the run
    (as a saturated machine pauses it) answers later: its last checkouts must still reach the audit, or the audit
    would check fewer checkouts than the shop settled and pass."""
    shop = demo_shop("sqlite", **SECRETS)
    out, log = tmp_path / "out", tmp_path / "stderr.log"
    run_time = 15
    command = shopstorm_command("run", "checkout-api", "--host", shop.url, "--mix", "payments", "-u", "4", "-r", "4",
                                "-t", f"{run_time}s", "--audit", "--processes", "2", "--out", str(out),
                                "--loglevel", "INFO")  # fmt: skip
    with log.open("w") as stderr_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_file, text=True,
                                   env=cli_env(CREDENTIALS))  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "load started" not in process.stdout.readline():
            assert time.monotonic() < deadline and process.poll() is None, "the load never started"
        load_started = time.monotonic()
        workers = sorted(psutil.Process(process.pid).children(), key=lambda child: child.pid)
        port = urlsplit(shop.url).port
        eventually(lambda: all(talks_to(worker, port) for worker in workers), "both workers shopping", alive=process)
        time.sleep(max(0.0, load_started + run_time - 1 - time.monotonic()))  # the scenario: a second before the end
        workers[0].suspend()
        # the master is ending the run: the event itself
        eventually(lambda: "--run-time limit reached" in log.read_text(), "the run time to run out", alive=process)
        time.sleep(1.0)  # longer than Locust's half second
        workers[0].resume()
        stdout, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    stderr = log.read_text()
    assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]
    summary = read_summary(out)
    assert min(summary["generators"]["requests_by_worker"]) > 0
    assert summary["generators"]["lost_workers"] == [], stderr[-3000:]  # slow is not lost
    assert summary["audit"]["violations"] == 0, violated(summary)
    settled = summary["audit"]["checkouts"].get("succeeded", 0)
    assert summary["webhooks"]["by_type"]["order.paid"] == settled > 0
    # the receiver rejects an event for a checkout the ledger does not hold: none means the audit missed none
    assert summary["webhooks"]["rejected"] == 0, summary["webhooks"]["rejected_by_reason"]


def talks_to(process: psutil.Process, port: int) -> bool:
    return any(c.raddr and c.raddr.port == port for c in process.net_connections(kind="tcp"))


def test_a_wrong_token_stops_the_run_at_the_start_with_one_line(demo_shop, tmp_path):
    shop = demo_shop("sqlite", **SECRETS)
    result = checkout_run(shop.url, tmp_path / "out", "-u", "2", "-t", "5s", env={"LOAD_TEST_API_TOKEN": "wrong"})
    assert result.returncode == 4, result.stdout[-2000:]
    assert result.stderr.strip().splitlines() == [
        "shopstorm: the shop refused POST /v1/products/: HTTP 401 (check the credentials or token)"
    ]
    assert "wrong" not in result.stdout + result.stderr


def test_a_run_without_a_token_is_a_usage_error(demo_shop, tmp_path):
    shop = demo_shop("sqlite", **SECRETS)
    result = run_cli("run", "checkout-api", "--host", shop.url, "-t", "5s", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "needs an API token" in result.stderr and "Traceback" not in result.stderr


def test_provider_events_signed_with_the_wrong_secret_are_refused_and_counted(demo_shop, tmp_path):
    shop = demo_shop("sqlite", **SECRETS)
    out = tmp_path / "out"
    result = checkout_run(shop.url, out, "--journey", "inbound_payment", "-u", "2", "-r", "2", "-t", "4s",
                          env={"SHOPSTORM_PROVIDER_SECRET": "whsec_not_the_shops_secret"})  # fmt: skip
    assert result.returncode == 1, result.stdout[-2000:]  # failed requests and no gates: Locust's exit code 1
    journey = journeys_by_name(read_summary(out))["inbound_payment"]
    assert journey["count"] == journey["failed"] > 0
    assert any("provider event refused (HTTP 400" in reason for reason in journey["failure_reasons"])


def test_polar_environment_names_and_thresholds_become_settings_and_p95_gates(demo_shop, tmp_path):
    shop = demo_shop("sqlite", **SECRETS)
    out = tmp_path / "out"
    env = {
        "LOAD_TEST_HOST": shop.url,
        "LOAD_TEST_CUSTOMER_EMAIL": "load-test@shopstorm.dev",
        "LOAD_TEST_CHECKOUT_CREATE_THRESHOLD": "60000",  # a minute: passes however busy the machine is
        "LOAD_TEST_CHECKOUT_CONFIRM_THRESHOLD": "1",  # 1 ms: an HTTP call through Locust takes longer
    }
    result = run_cli("run", "checkout-api", "--mix", "polar", "--think-time", "0", "-u", "3", "-r", "3", "-t", "4s",
                     "--out", str(out), env={**CREDENTIALS, **env})  # fmt: skip
    assert result.returncode == 1, result.stdout[-2000:]
    summary = read_summary(out)
    gates = {gate["text"]: gate["passed"] for gate in summary["gates"]}
    create, confirm = "POST /v1/checkouts/", "POST /v1/checkouts/client/[client_secret]/confirm"
    p95 = {f"{row['method']} {row['name']}": row["latency_ms"]["p95"] for row in summary["requests"]}
    assert gates == {f'"{create}" p95<60000ms': p95[create] < 60000, f'"{confirm}" p95<1ms': p95[confirm] < 1}
    assert gates[f'"{confirm}" p95<1ms'] is False
    assert summary["settings"]["customer_email"] == "load-test@shopstorm.dev"
    assert "api_token" not in summary["settings"] and TOKEN not in (out / "summary.json").read_text()


def test_the_demo_runs_the_checkout_api_with_secrets_made_for_the_run(tmp_path):
    out = tmp_path / "out"
    result = run_cli("demo", "--target", "checkout-api", "-u", "3", "-r", "3", "-t", "5s", "--audit",
                     "--out", str(out), timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = read_summary(out)
    assert summary["target"] == "checkout-api" and summary["audit"]["verdict"] == "pass"
    assert set(journeys_by_name(summary)) == {"checkout_flow", "inbound_payment", "settlement"}
    assert summary["webhooks"]["by_type"]["order.paid"] > 0
    assert "api_token" not in summary["settings"] and "provider_secret" not in summary["settings"]
