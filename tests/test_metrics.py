"""Measurements: HDR merges are exact, journeys are timed apart from requests."""

from __future__ import annotations

import random

import pytest

from shopstorm.metrics.histograms import HistogramSet, new_histogram, summarize
from shopstorm.metrics.journeys import journey_timer
from shopstorm.metrics.measurements import Measurements


def test_merged_worker_deltas_equal_one_histogram_of_all_samples():
    rng = random.Random(7)
    workers = [Measurements(ships=True), Measurements(ships=True)]
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


def test_a_worker_ships_each_sample_once_and_a_master_keeps_it():
    worker, master = HistogramSet(ships=True), HistogramSet()
    worker.record("GET /x", 5.0)
    delta = worker.take_delta()
    assert list(delta) == ["GET /x"] and worker.take_delta() == {}  # emptied once taken
    assert worker.summary("GET /x").count == 0  # nothing reads a worker's totals, so it keeps none
    master.merge(delta)
    master.record("GET /x", 7.0)  # a master records nothing itself, but a local process does: into its totals
    assert master.summary("GET /x").count == 2 and master.take_delta() == {}


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
