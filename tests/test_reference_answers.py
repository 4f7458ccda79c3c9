"""The webshop target against the course API as its reference implementation answers it (issue 10).

The reference implementation answers state changes with plain text, refusals with Flask's HTML 400 page, creates
with 200; others answer JSON everywhere, or empty bodies, and shape ``orders/find`` their own way. The status is the
truth: each of these shapes runs clean and audits clean against a correct shop, a lost update is still caught, a
shop without an endpoint is told once, seeding errors are one line, and the exit code follows Locust's convention.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter

import pytest

from shopstorm.audit.invariants import check
from shopstorm.audit.ledger import Entry
from shopstorm.audit.order_books import BookedOrder, book_orders, read_lines, read_paid, reconcile
from shopstorm.audit.state import Baseline, ItemState, ShopState, UserState
from shopstorm.replies import classify
from shopstorm.targets.webshop_admin import _order_reading
from support import QUICK_LOAD, ChaosProxy, journeys_by_name, read_summary, reshape_order, run_cli
from test_webshop_run import assert_clean_stress_run

# 150 shoppers started at once: above the 100/s where Locust warns of a very high spawn rate
SMALL_CONSISTENCY = ("--users", "150", "--checkouts", "150", "--stock", "15")
FLASK_400 = "<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n<p>{}</p>\n"


# --- classification: the status is the truth ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "text", "outcome", "detail"),
    [
        (200, "Item: 9f1c2d3e-aaaa-4bbb-8ccc-0123456789ab stock updated to: 5", "ok", "HTTP 200"),
        (200, "", "ok", "HTTP 200"),
        (200, '{"stock": "many"}', "ok", "HTTP 200"),  # JSON of the wrong types: nothing here reads it
        (400, FLASK_400.format("Out of stock on item_id: 3fa85f6457174562b3fc2c963f66afa6"), "refused",
         "HTTP 400 Out of stock on item_id: [id]"),
        (400, FLASK_400.format("User: 17 credit cannot get reduced below zero!"), "refused",
         "HTTP 400 User: [id] credit cannot get reduced below zero!"),
        (400, '{"error": "Order: 5 is already paid"}', "refused", "HTTP 400 Order: [id] is already paid"),
        (422, '{"detail": "quantity must be positive"}', "refused", "HTTP 422 quantity must be positive"),
        (400, "x" * 300, "refused", "HTTP 400 " + "x" * 79 + "…"),
        (502, "<html><body>Bad Gateway</body></html>", "unknown", "HTTP 502"),
    ],
)  # fmt: skip
def test_the_status_decides_and_a_refusal_gives_a_short_id_free_reason(status, text, outcome, detail):
    reply = classify(status, text, None)
    assert (reply.outcome, reply.detail) == (outcome, detail)


# --- the audit trusts its own books ---------------------------------------------------------------------------

REFERENCE_ORDER = {"order_id": "o1", "paid": True, "items": [["0", 1], ["1", 2]], "user_id": "u1", "total_cost": 7}
SHAPES = ["pairs", "items-flat", "items-objects", "paid-string", "items-unreadable"]


def _reading(shape: str, paid: bool = True):
    body = {**REFERENCE_ORDER, "paid": paid, "items": [list(line) for line in REFERENCE_ORDER["items"]]}
    return _order_reading(body if shape == "pairs" else reshape_order(shape, body))


def _audit(shape: str, stock_left: dict[str, int]):
    """One acknowledged checkout of order o1 (1 x item 0 at 1, 2 x item 1 at 3) against the shop read back."""
    entries = [
        Entry("order", "o1", "u1", 0, "ok", "HTTP 200", 1.0),
        Entry("line", "o1", "0", 1, "ok", "HTTP 200", 2.0),
        Entry("line", "o1", "1", 2, "ok", "HTTP 200", 3.0),
        Entry("checkout", "o1", "u1", 0, "ok", "HTTP 200", 4.0),
    ]
    baseline = Baseline(stock={"0": 10, "1": 10}, credit={"u1": 7})
    reconciled = reconcile({"o1": _reading(shape)}, book_orders({}, entries), {"o1": "u1"}, {"0": 1, "1": 3})
    state = ShopState(
        items={item: ItemState(left, 1) for item, left in stock_left.items()},
        users={"u1": UserState(0)},
        orders=reconciled.orders,
        warnings=reconciled.warnings(),
    )
    return check(baseline, entries, state)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_items_shape_audits_a_correct_shop_clean(shape):
    result = _audit(shape, {"0": 9, "1": 8})
    assert result.violations == 0, result.as_dict()["invariants"]
    assert len(result.warnings) == (1 if shape == "items-unreadable" else 0), result.warnings


@pytest.mark.parametrize("shape", SHAPES)
def test_every_items_shape_still_catches_a_lost_update(shape):
    result = _audit(shape, {"0": 9, "1": 9})  # two units of item 1 sold, one taken from stock
    assert {name for name, found in result.findings.items() if found} == {"stock_conserved"}


def test_items_shapes_read_to_the_same_lines():
    expected = Counter({"0": 1, "1": 2})
    for shape in ("pairs", "items-flat", "items-objects"):
        assert _reading(shape).lines == expected, shape
    assert read_lines({"0": 1, "1": 2}) == expected
    assert read_paid("False") is False and read_paid(1) is True
    for bad in ("maybe", None, 2, [1]):
        with pytest.raises(ValueError):
            read_paid(bad)
    for bad in (7, [[1, "two"]], [{"quantity": 1}], [1.5], [[1, float("nan")]]):
        with pytest.raises(ValueError):
            read_lines(bad)


def test_the_books_decide_and_a_disagreeing_shop_is_one_warning_not_a_violation():
    entries = [
        Entry("line", "o1", "0", 2, "ok", "HTTP 200", 1.0),
        Entry("line", "o1", "1", 1, "refused", "HTTP 400", 2.0),  # refused: never in the order
        Entry("line", "o1", "2", 1, "ok", "HTTP 200", 3.0),
        Entry("unline", "o1", "2", 0, "ok", "HTTP 200", 4.0),  # removed again
    ]
    books = book_orders({"seeded": [("0", 1)]}, entries)
    assert books["o1"] == BookedOrder(Counter({"0": 2}), certain=True)
    assert books["seeded"].lines == Counter({"0": 1})
    shop_says = _order_reading({"paid": False, "items": [["0", 1]], "total_cost": 1})
    reconciled = reconcile({"o1": shop_says}, books, {"o1": "u"}, {"0": 1})
    assert reconciled.orders["o1"].lines == (("0", 2),) and reconciled.orders["o1"].total == 2
    assert reconciled.differing == ["o1"] and "1 orders read back with other items" in reconciled.warnings()[0]


def test_an_unknown_line_change_leaves_the_shop_to_say_and_unreadable_when_it_cannot():
    books = book_orders({}, [Entry("line", "o1", "0", 1, "unknown", "HTTP 502", 1.0)])
    assert not books["o1"].certain
    readable = reconcile({"o1": _order_reading({"paid": True, "items": [["0", 1]]})}, books, {}, {"0": 4})
    assert readable.orders["o1"].lines == (("0", 1),) and readable.orders["o1"].total == 4
    unreadable = reconcile({"o1": _order_reading({"paid": True, "items": 7})}, books, {}, {"0": 4})
    assert "o1" in unreadable.unreadable and not unreadable.orders


# --- real runs against the demo shop in its reference style --------------------------------------------------


def test_stress_mix_and_audit_run_clean_against_the_reference_answers(demo_shop, tmp_path):
    shop = demo_shop("sqlite")  # the demo shop answers as the reference implementation by default
    out = tmp_path / "out"
    result = run_cli("run", "webshop", "--host", shop.url, *QUICK_LOAD, "--audit", "--out", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    summary = read_summary(out)
    assert_clean_stress_run(summary)
    assert summary["audit"]["verdict"] == "pass" and summary["audit"]["warnings"] == []
    assert summary["missing_endpoints"] == []


@pytest.mark.parametrize("answers", ["reference", "json"])
def test_consistency_on_each_answer_style_passes_and_a_lost_update_is_caught(demo_shop, tmp_path, answers):
    correct = demo_shop("sqlite", webshop_answers=answers)
    broken = demo_shop("sqlite", faults=["lost-update"], webshop_answers=answers)
    passed = run_cli("consistency", "webshop", "--host", correct.url, *SMALL_CONSISTENCY, "--out", str(tmp_path / "a"))
    assert passed.returncode == 0, passed.stdout[-3000:]
    assert read_summary(tmp_path / "a")["audit"]["checkouts"] == {"acknowledged": 15, "refused": 135, "unknown": 0}
    assert "load started: 150 checkouts" in passed.stdout and "spawn rate is very high" not in passed.stderr
    caught = run_cli("consistency", "webshop", "--host", broken.url, *SMALL_CONSISTENCY, "--out", str(tmp_path / "b"))
    assert caught.returncode == 3, caught.stdout[-3000:]


@pytest.mark.parametrize("shape", ["items-flat", "items-objects", "paid-string", "items-unreadable"])
def test_consistency_through_each_order_shape(demo_shop, tmp_path, shape):
    shop = demo_shop("sqlite")
    rule = lambda method, path: shape if "/orders/find/" in path else "pass"  # noqa: E731
    with ChaosProxy(shop.url, rule) as proxy:
        result = run_cli("consistency", "webshop", "--host", proxy.url, *SMALL_CONSISTENCY, "--out", str(tmp_path))
    summary = read_summary(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert summary["audit"]["violations"] == 0
    assert len(summary["audit"]["warnings"]) == (1 if shape == "items-unreadable" else 0)
    assert proxy.counts[shape] >= 150  # every order was read through the reshaped answer


def test_empty_and_text_bodies_on_every_state_change_are_ok(demo_shop, tmp_path):
    shop = demo_shop("sqlite", webshop_answers="json")
    changes = ("/stock/add/", "/payment/add_funds/", "/orders/addItem/", "/orders/removeItem/", "/orders/checkout/")
    turns = itertools.cycle(["empty-200", "text-200"])
    lock = threading.Lock()

    def rule(method: str, path: str) -> str:
        with lock:
            return next(turns) if path.startswith(changes) else "pass"

    with ChaosProxy(shop.url, rule) as proxy:
        result = run_cli("run", "webshop", "--host", proxy.url, *QUICK_LOAD, "--audit", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:]
    summary = read_summary(tmp_path)
    assert_clean_stress_run(summary)
    assert summary["audit"]["violations"] == 0
    assert proxy.counts["empty-200"] > 50 and proxy.counts["text-200"] > 50


def test_a_missing_endpoint_is_said_once_and_fails_the_run(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    rule = lambda method, path: "flask-405" if "/orders/removeItem/" in path else "pass"  # noqa: E731
    with ChaosProxy(shop.url, rule) as proxy:
        result = run_cli("run", "webshop", "--host", proxy.url, *QUICK_LOAD, "--out", str(tmp_path))
    assert result.returncode == 1, result.stdout[-3000:]  # Locust's convention: failed requests, no gates
    summary = read_summary(tmp_path)
    endpoint = "DELETE /orders/removeItem/[order_id]/[item_id]"
    assert summary["missing_endpoints"] == [
        {"method": "DELETE", "name": "/orders/removeItem/[order_id]/[item_id]",
         "answers": proxy.counts["flask-405"], "journeys": ["regret_and_checkout"]}
    ]  # fmt: skip
    assert journeys_by_name(summary)["regret_and_checkout"]["endpoint_missing"] == endpoint
    assert next(r for r in summary["requests"] if r["name"].startswith("/orders/removeItem"))["endpoint_missing"]
    assert not any(row.get("endpoint_missing") for row in summary["journeys"] if row["name"] != "regret_and_checkout")
    said = f"the shop has no {endpoint}: the regret_and_checkout journey cannot run; --weight regret_and_checkout=0"
    assert result.stdout.count(said) == 1


def test_exit_code_follows_locust_unless_told_otherwise_or_gated(demo_shop, tmp_path):
    """An item create that answers text: admin_restock cannot read the new id (the failure names endpoint and
    field); the run exits 1 by Locust's convention, 0 with --exit-code-on-error 0, and the gates' verdict with gates."""
    shop = demo_shop("sqlite")
    rule = lambda method, path: "text-200" if "/stock/item/create/" in path else "pass"  # noqa: E731
    with ChaosProxy(shop.url, rule) as proxy:
        plain = run_cli("run", "webshop", "--host", proxy.url, *QUICK_LOAD, "--out", str(tmp_path / "a"))
        shorter = [*QUICK_LOAD, "-t", "3s"]  # the same failures, sooner: only the exit code is asked here
        told = run_cli(
            "run", "webshop", "--host", proxy.url, *shorter, "--exit-code-on-error", "0", "--out", str(tmp_path / "b")
        )
        gated = run_cli(
            "run", "webshop", "--host", proxy.url, *shorter, "--gate", "fail_ratio<50%", "--out", str(tmp_path / "c")
        )
    assert (plain.returncode, told.returncode, gated.returncode) == (1, 0, 0), plain.stderr + told.stderr
    reasons = journeys_by_name(read_summary(tmp_path / "a"))["admin_restock"]["failure_reasons"]
    assert list(reasons) == [
        "create item (POST /stock/item/create/[price]): answer is not a JSON object, needed its 'item_id' (HTTP 200)"
    ]
    told_summary = read_summary(tmp_path / "b")
    assert told_summary["exit_code"] == 0 and told_summary["totals"]["failures"] > 0
    assert read_summary(tmp_path / "c")["totals"]["failures"] > 0


def test_a_shop_refusing_the_seed_halfway_is_one_line_and_exit_4(demo_shop, tmp_path):
    shop = demo_shop("sqlite")
    creates = itertools.count()
    lock = threading.Lock()

    def rule(method: str, path: str) -> str:
        if not path.startswith("/payment/create_user"):
            return "pass"
        with lock:
            return "flask-400" if next(creates) >= 300 else "pass"

    with ChaosProxy(shop.url, rule) as proxy:
        result = run_cli(
            "consistency", "webshop", "--host", proxy.url, "--seed-mode", "create", "--users", "1000",
            "--checkouts", "1000", "--out", str(tmp_path),
        )  # fmt: skip
    assert result.returncode == 4
    assert result.stderr.splitlines() == ["shopstorm: the shop refused POST /payment/create_user: HTTP 400 DB error"]
    assert proxy.counts["flask-400"] <= 64  # the pool stopped at the first refusal (32 in flight at most, twice)
