"""Everything one load process measured, shipped from workers to the master as deltas and merged there.

One instance per process (:data:`MEASUREMENTS`), because Locust's events are process-wide too. Besides the HDR
histograms per request and per journey it keeps, for the open model, each journey's latency from its *intended*
start; for the time series, a window of all requests since the last sample; the open model's started and dropped
arrivals; and the CPU samples of each load process (generator health).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from shopstorm.metrics.histograms import HistogramSet


@dataclass
class Outcomes:
    ok: int = 0
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: dict) -> None:
        self.ok += other.get("ok", 0)
        self.failed += other.get("failed", 0)
        for reason, count in other.get("reasons", {}).items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count

    def as_dict(self) -> dict:
        return {"ok": self.ok, "failed": self.failed, "reasons": dict(self.reasons)}


@dataclass
class CpuHealth:
    """CPU samples of one load process: how many, and how many above the saturation line."""

    samples: int = 0
    saturated: int = 0

    @property
    def saturated_share(self) -> float:
        return self.saturated / self.samples if self.samples else 0.0


class Measurements:
    """``ships=True`` on a worker: samples go only into the deltas for the master (nothing reads a worker's totals);
    otherwise only into the totals (nothing takes a local or master process's deltas). One write per sample."""

    def __init__(self, ships: bool = False) -> None:
        self.ships = ships
        self.requests = HistogramSet(ships, window=True)  # its window: every request since the last sample
        self.journeys = HistogramSet(ships)  # service time: from the journey's actual start
        self.journeys_intended = HistogramSet(ships)  # open model: from the journey's intended start
        self.journey_outcomes: dict[str, Outcomes] = {}
        self.arrivals: Counter[str] = Counter()  # open model: "started", "dropped"
        self.funnel: Counter[str] = Counter()  # journeys that reached each funnel step
        self.requests_by_worker: dict[str, int] = {}  # on the master: who measured what
        self.cpu: dict[str, CpuHealth] = {}  # per load process ("" for this one)
        self.window_failures = 0  # failed requests since the last time-series sample
        self._outcome_delta: dict[str, Outcomes] = {}
        self._delta_counts: Counter[str] = Counter()

    def record_request(self, name: str, milliseconds: float, failed: bool = False) -> None:
        # The request count is the window's: every request lands in it once.
        self.requests.record(name, milliseconds)
        if failed:
            if self.ships:
                self._delta_counts["failures"] += 1
            else:
                self.window_failures += 1

    def record_journey(
        self, name: str, milliseconds: float, failure: str | None = None, intended_ms: float | None = None
    ) -> None:
        self.journeys.record(name, milliseconds)
        if intended_ms is not None:
            self.journeys_intended.record(name, intended_ms)
        table = self._outcome_delta if self.ships else self.journey_outcomes
        outcomes = table.get(name)
        if outcomes is None:
            outcomes = table[name] = Outcomes()
        if failure is None:
            outcomes.ok += 1
        else:
            outcomes.failed += 1
            outcomes.reasons[failure] = outcomes.reasons.get(failure, 0) + 1

    def record_arrival(self, started: bool, count: int = 1) -> None:
        key = "started" if started else "dropped"
        self.arrivals[key] += count
        self._delta_counts[key] += count

    def record_funnel(self, step: str) -> None:
        self.funnel[step] += 1
        self._delta_counts[f"funnel:{step}"] += 1

    def record_cpu(self, percent: float, saturated: bool) -> None:
        health = self.cpu.setdefault("", CpuHealth())
        health.samples += 1
        health.saturated += saturated
        self._delta_counts["cpu_samples"] += 1
        self._delta_counts["cpu_saturated"] += saturated

    def take_delta(self) -> dict:
        """What this process measured since the last call (for ``report_to_master``)."""
        requests = self.requests.take_delta()
        window = self.requests.take_window()
        if window.get_total_count():
            self._delta_counts["requests"] += window.get_total_count()
        delta = {
            "requests": requests,
            "journeys": self.journeys.take_delta(),
            "journeys_intended": self.journeys_intended.take_delta(),
            "journey_outcomes": {name: o.as_dict() for name, o in self._outcome_delta.items()},
            "counts": dict(self._delta_counts),
            "window": window.encode().decode("ascii") if window.get_total_count() else "",
        }
        self._outcome_delta = {}
        self._delta_counts = Counter()
        return delta

    def merge(self, delta: dict, worker: str = "") -> None:
        """Add a worker's delta (on the master)."""
        counts = delta.get("counts", {})
        self.requests.merge(delta.get("requests", {}), window=delta.get("window", ""))
        self.journeys.merge(delta.get("journeys", {}))
        self.journeys_intended.merge(delta.get("journeys_intended", {}))
        for name, outcomes in delta.get("journey_outcomes", {}).items():
            self.journey_outcomes.setdefault(name, Outcomes()).add(outcomes)
        self.requests_by_worker[worker] = self.requests_by_worker.get(worker, 0) + counts.get("requests", 0)
        for key in ("started", "dropped"):
            self.arrivals[key] += counts.get(key, 0)
        for key, count in counts.items():
            if key.startswith("funnel:"):
                self.funnel[key.removeprefix("funnel:")] += count
        self.window_failures += counts.get("failures", 0)
        health = self.cpu.setdefault(worker, CpuHealth())
        health.samples += counts.get("cpu_samples", 0)
        health.saturated += counts.get("cpu_saturated", 0)

    def take_window(self) -> tuple[HdrHistogram, dict[str, int]]:
        """The window since the last time-series sample, and start a new one."""
        window = self.requests.take_window()
        counts = {"requests": window.get_total_count(), "failures": self.window_failures}
        self.window_failures = 0
        return window, counts

    def clear(self, ships: bool | None = None) -> None:
        self.__init__(self.ships if ships is None else ships)


MEASUREMENTS = Measurements()
