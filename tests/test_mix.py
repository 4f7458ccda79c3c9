"""Mixes: the stress mix's weights, narrowing by --journey, re-weighting by --weight, and the shop's answers."""

from __future__ import annotations

import pytest

from shopstorm.errors import UsageError
from shopstorm.journeys import apply_mix, resolve_mix, shoppers_for
from shopstorm.replies import classify
from shopstorm.settings import Settings


def test_stress_mix_has_the_benchmark_weights_and_think_time():
    mix = resolve_mix(shoppers_for("webshop")[0], Settings())
    assert list(mix.weights.values()) == [5, 30, 25, 20, 10, 10]
    assert mix.think_time == (1.0, 3.0)


def test_narrowing_and_reweighting():
    shopper = shoppers_for("webshop")[0]
    mix = resolve_mix(shopper, Settings(journeys=("checkout_one", "admin_restock"), weights={"admin_restock": 0}))
    assert mix.weights == {"checkout_one": 30}
    mix = resolve_mix(shopper, Settings(weights={"checkout_one": 0, "refused_no_credit": 50}, think_time=(0, 0)))
    assert "checkout_one" not in mix.weights and mix.weights["refused_no_credit"] == 50
    apply_mix(shopper, mix)
    assert len(shopper.tasks) == sum(mix.weights.values())
    assert shopper.wait_time(None) == 0


def test_unknown_journey_and_empty_mix_are_usage_errors():
    shopper = shoppers_for("webshop")[0]
    with pytest.raises(UsageError, match="unknown journey 'nope'"):
        resolve_mix(shopper, Settings(journeys=("nope",)))
    with pytest.raises(UsageError, match="no journey with a weight above 0"):
        resolve_mix(shopper, Settings(journeys=("checkout_one",), weights={"checkout_one": 0}))


@pytest.mark.parametrize(
    ("status", "text", "outcome", "detail"),
    [
        (200, '{"order_id": "1"}', "ok", "HTTP 200"),
        (400, '{"error": "no", "reason": "out_of_stock"}', "refused", "HTTP 400 out_of_stock"),
        (404, "", "refused", "HTTP 404"),
        (503, "<html>", "unknown", "HTTP 503"),  # never counted as success, unlike the course checker
        (200, "<html>", "ok", "HTTP 200"),  # the status is the truth: a 2xx is ok whatever its body
        (200, "Checkout successful", "ok", "HTTP 200"),
        (200, "", "ok", "HTTP 200"),
        (400, "User out of credit", "refused", "HTTP 400 User out of credit"),
        (0, None, "unknown", "connection error: no response"),
    ],
)
def test_every_answer_is_ok_refused_or_unknown(status, text, outcome, detail):
    reply = classify(status, text, None)
    assert (reply.outcome, reply.detail) == (outcome, detail)
