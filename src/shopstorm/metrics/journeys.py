"""Journey metrics: one shopper's path timed end to end, apart from per-request statistics.

A journey is not a request: it is never fired as a Locust ``request`` event, so it never inflates requests/s or
the failure ratio of requests. It has its own histogram and its own outcome counts (ok / failed, with the reason
of each failure). :func:`journey_timer` is the public API for timing your own journeys::

    with journey_timer("checkout"):
        ...                       # any exception marks the journey failed, with str(exception) as reason

    @journey_timer("checkout")    # the same, as a decorator
    def checkout(self): ...
"""

from __future__ import annotations

import time
from contextlib import ContextDecorator
from dataclasses import dataclass, field
from types import TracebackType

from gevent import GreenletExit
from locust.exception import InterruptTaskSet, RescheduleTask, StopUser

from shopstorm.metrics.histograms import HistogramSet

# Exceptions that stop a shopper mid-journey: the journey neither succeeded nor failed at the shop.
_STOPPED = (GeneratorExit, KeyboardInterrupt, GreenletExit, StopUser, InterruptTaskSet, RescheduleTask)


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


class Measurements:
    """Everything one process measured; workers send deltas, the master merges them.

    One instance per process (:data:`MEASUREMENTS`), because Locust's events are process-wide too.
    """

    def __init__(self) -> None:
        self.requests = HistogramSet()
        self.journeys = HistogramSet()
        self.journey_outcomes: dict[str, Outcomes] = {}
        self._outcome_delta: dict[str, Outcomes] = {}
        self._requests_since_delta = 0
        self.requests_by_worker: dict[str, int] = {}  # on the master: who measured what

    def record_request(self, name: str, milliseconds: float) -> None:
        self.requests.record(name, milliseconds)
        self._requests_since_delta += 1

    def record_journey(self, name: str, milliseconds: float, failure: str | None = None) -> None:
        self.journeys.record(name, milliseconds)
        for table in (self.journey_outcomes, self._outcome_delta):
            outcomes = table.setdefault(name, Outcomes())
            if failure is None:
                outcomes.ok += 1
            else:
                outcomes.failed += 1
                outcomes.reasons[failure] = outcomes.reasons.get(failure, 0) + 1

    def take_delta(self) -> dict:
        delta = {
            "requests": self.requests.take_delta(),
            "journeys": self.journeys.take_delta(),
            "journey_outcomes": {name: o.as_dict() for name, o in self._outcome_delta.items()},
            "request_count": self._requests_since_delta,
        }
        self._outcome_delta = {}
        self._requests_since_delta = 0
        return delta

    def merge(self, delta: dict, worker: str = "") -> None:
        count = delta.get("request_count", 0)
        self.requests_by_worker[worker] = self.requests_by_worker.get(worker, 0) + count
        self.requests.merge(delta.get("requests", {}))
        self.journeys.merge(delta.get("journeys", {}))
        for name, outcomes in delta.get("journey_outcomes", {}).items():
            self.journey_outcomes.setdefault(name, Outcomes()).add(outcomes)

    def clear(self) -> None:
        self.__init__()


MEASUREMENTS = Measurements()


def failure_reason(error: BaseException) -> str:
    """A short, id-free reason so that equal failures group together."""
    text = str(error).strip() or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class journey_timer(ContextDecorator):
    """Time a journey end to end; see the module docstring."""

    def __init__(self, name: str, measurements: Measurements | None = None) -> None:
        self.name = name
        self.measurements = measurements or MEASUREMENTS
        self._started: list[float] = []  # a stack, so one instance can decorate a re-entrant function

    def __enter__(self) -> journey_timer:
        self._started.append(time.perf_counter())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        elapsed_ms = (time.perf_counter() - self._started.pop()) * 1000
        if isinstance(exc, _STOPPED):
            return None
        failure = None if exc is None else failure_reason(exc)
        self.measurements.record_journey(self.name, elapsed_ms, failure)
        return None
