"""Measurements: HDR merges are exact, batched samples read as if recorded one by one, journeys are timed apart
from requests."""

from __future__ import annotations

import random

import pytest
from locust.exception import StopUser

from shopstorm.journeys.base import journey
from shopstorm.metrics.histograms import FOLD_AT, HIGHEST_US, HistogramSet, fold, new_histogram, summarize
from shopstorm.metrics.journeys import journey_timer
from shopstorm.metrics.measurements import MEASUREMENTS, Measurements
from shopstorm.replies import JourneyFailed


def one_by_one(samples_ms: list[float]):
    """What hdrhistogram makes of the samples recorded one at a time: the reference for every batched path."""
    histogram = new_histogram()
    for ms in samples_ms:
        histogram.record_value(min(max(int(ms * 1000), 1), HIGHEST_US))
    return histogram


def latencies(count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(1, 1.5) for _ in range(count)]


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


def test_a_folded_batch_is_the_histogram_of_its_samples_recorded_one_by_one():
    # every bucket boundary of the 3-digit layout, out-of-range samples on both sides, and repeats
    edges = [b * 2**k / 1000 for k in range(22) for b in (1023, 1024, 2047, 2048)]
    samples = [*latencies(20_000, 1), *edges, 0.0, -3.0, 0.0004, 4_000_000_000.0, 3.5, 3.5, 3.5]
    expected, window = one_by_one(samples), new_histogram()
    folded = new_histogram()
    fold(samples[:7000], folded, window)
    fold(samples[7000:], folded, window)
    for histogram in (folded, window):
        assert list(histogram.counts) == list(expected.counts)
        assert (histogram.get_total_count(), histogram.min_value, histogram.max_value) == (
            expected.get_total_count(),
            expected.min_value,
            expected.max_value,
        )
        assert histogram.encode() == expected.encode()


def test_every_read_of_a_local_process_sees_every_sample_once():
    measurements = Measurements()
    checkout, stock = latencies(FOLD_AT + 123, 2), latencies(50, 3)  # one name past a fold, one never folded
    for ms in checkout:
        measurements.record_request("POST /orders/checkout/[order_id]", ms)
    for ms in stock:
        measurements.record_request("GET /stock/[item]", ms, failed=True)
    window, counts = measurements.take_window()
    assert summarize(window) == summarize(one_by_one(checkout + stock))
    assert counts == {"requests": len(checkout) + len(stock), "failures": len(stock)}
    assert measurements.take_window()[1] == {"requests": 0, "failures": 0}  # the next window starts empty
    assert list(measurements.requests.names()) == ["GET /stock/[item]", "POST /orders/checkout/[order_id]"]
    assert measurements.requests.summary("GET /stock/[item]") == summarize(one_by_one(stock))

    later = latencies(10, 4)  # recorded after a read: read again, nothing lost or counted twice
    for ms in later:
        measurements.record_request("GET /stock/[item]", ms)
    assert measurements.requests.summary("GET /stock/[item]") == summarize(one_by_one(stock + later))
    assert summarize(measurements.requests.combined()) == summarize(one_by_one(checkout + stock + later))
    assert summarize(measurements.take_window()[0]) == summarize(one_by_one(later))


def test_a_workers_final_report_carries_the_samples_not_yet_folded():
    worker, master = Measurements(ships=True), Measurements()
    first, last = latencies(FOLD_AT + 1, 5), latencies(7, 6)  # the last few arrive just before the worker stops
    for ms in first:
        worker.record_request("GET /x", ms)
        worker.record_journey("browse", ms * 3)
    master.merge(worker.take_delta(), worker="w0")
    for ms in last:
        worker.record_request("GET /x", ms, failed=True)
        worker.record_journey("browse", ms * 3, failure="browse: HTTP 500")
    master.merge(worker.take_delta(), worker="w0")  # what report_to_master sends when the worker stops

    assert master.requests.summary("GET /x") == summarize(one_by_one(first + last))
    assert master.journeys.summary("browse") == summarize(one_by_one([ms * 3 for ms in first + last]))
    assert master.journey_outcomes["browse"].as_dict() == {
        "ok": len(first),
        "failed": len(last),
        "reasons": {"browse: HTTP 500": len(last)},
    }
    assert master.requests_by_worker == {"w0": len(first) + len(last)}
    window, counts = master.take_window()
    assert summarize(window) == summarize(one_by_one(first + last))
    assert counts == {"requests": len(first) + len(last), "failures": len(last)}
    assert worker.take_delta()["requests"] == {}  # shipped once


def test_a_journey_is_timed_once_failed_when_a_step_fails_and_not_at_all_when_the_shopper_stops():
    class Shopper:
        def __init__(self, error: BaseException | None = None) -> None:
            self.error = error

        @journey()
        def browse(self) -> None:
            if self.error is not None:
                raise self.error

    MEASUREMENTS.clear()
    try:
        Shopper().browse()
        Shopper(JourneyFailed("browse: HTTP 500")).browse()  # recorded, and the shopper carries on
        with pytest.raises(ValueError):
            Shopper(ValueError("bad page")).browse()  # recorded, and raised to Locust
        with pytest.raises(StopUser):
            Shopper(StopUser()).browse()  # neither ok nor failed: the shopper was stopped
        outcomes = MEASUREMENTS.journey_outcomes["browse"].as_dict()
        assert outcomes == {"ok": 1, "failed": 2, "reasons": {"browse: HTTP 500": 1, "bad page": 1}}
        assert MEASUREMENTS.journeys.summary("browse").count == 3
    finally:
        MEASUREMENTS.clear()
