"""Measurements: HDR merges are exact, journeys are timed apart from requests."""

from __future__ import annotations

import random

import pytest

from shopstorm.metrics.histograms import HistogramSet, new_histogram, summarize
from shopstorm.metrics.journeys import journey_timer
from shopstorm.metrics.measurements import Measurements


def test_merged_worker_deltas_equal_one_histogram_of_all_samples():
    rng = random.Random(7)
    workers = [Measurements(), Measurements()]
    master, everything = Measurements(), new_histogram()
    for round_ in range(3):  # several report intervals, as report_to_master sends them
        for worker in workers:
            for _ in range(5000):
                ms = rng.lognormvariate(3, 1.2) * (1 + round_)
                worker.record_request("POST /orders/checkout/[order_id]", ms)
                everything.record_value(max(1, int(ms * 1000)))
        for index, worker in enumerate(workers):
            master.merge(worker.take_delta(), worker=f"w{index}")
    merged = master.requests.summary("POST /orders/checkout/[order_id]")
    assert merged == summarize(everything)
    assert merged.count == 30000 and master.requests_by_worker == {"w0": 15000, "w1": 15000}


def test_delta_is_emptied_once_taken():
    histograms = HistogramSet()
    histograms.record("GET /x", 5.0)
    assert list(histograms.take_delta()) == ["GET /x"]
    assert histograms.take_delta() == {}
    assert histograms.summary("GET /x").count == 1


def test_journey_timer_records_success_and_failure_reason_without_touching_requests():
    measurements = Measurements()
    with journey_timer("checkout", measurements):
        pass
    with pytest.raises(ValueError), journey_timer("checkout", measurements):
        raise ValueError("checkout refused (HTTP 400 out_of_stock)")

    @journey_timer("browse", measurements)
    def browse() -> None:
        pass

    browse()
    outcomes = measurements.journey_outcomes
    assert (outcomes["checkout"].ok, outcomes["checkout"].failed) == (1, 1)
    assert outcomes["checkout"].reasons == {"checkout refused (HTTP 400 out_of_stock)": 1}
    assert outcomes["browse"].ok == 1
    assert list(measurements.requests.names()) == []
