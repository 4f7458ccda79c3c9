"""Pacing of a run: the open model's arrival schedule (intended start times) and the iteration budget.

**Open model.** ``--arrival-rate R`` starts R journeys per second whatever the shop does; ``--stages 30s:10,1m:50``
ramps the rate linearly to 10/s over 30 s, then to 50/s over a minute (k6's ramping-arrival-rate). Arrival *k*
has an intended start ``t0 + time_of(k)``. Every load process takes the arrivals ``k ≡ index (mod processes)``;
each free shopper claims the next one and starts it at its intended time. When every shopper is busy (the shop
stalls), arrivals are started late and their latency is measured from the intended start — the correction for
coordinated omission; an arrival later than ``--max-lateness`` is dropped and counted instead.

**Iterations.** ``--iterations N`` stops after N journeys in either model; in the closed model each process
takes its share of N as tickets.
"""

from __future__ import annotations

import math
import time

from shopstorm.metrics.measurements import MEASUREMENTS, Measurements
from shopstorm.setting_values import Stage


class ArrivalSchedule:
    """Arrival times of a piecewise-linear rate: ``start_rate``, then each stage ramps to its target."""

    def __init__(self, start_rate: float, stages: tuple[Stage, ...] = (), duration: float | None = None) -> None:
        self.segments: list[tuple[float, float, float]] = []  # (length s, rate at start, rate at end)
        if stages:
            rate = start_rate
            for stage in stages:
                self.segments.append((stage.seconds, rate, stage.target_rate))
                rate = stage.target_rate
        elif duration is not None:
            self.segments.append((duration, start_rate, start_rate))
        else:
            self.segments.append((math.inf, start_rate, start_rate))

    @property
    def duration(self) -> float:
        return sum(length for length, _, _ in self.segments)

    def count_until(self, seconds: float) -> float:
        """Arrivals scheduled in [0, seconds): the integral of the rate."""
        total, elapsed = 0.0, 0.0
        for length, rate0, rate1 in self.segments:
            span = min(length, max(0.0, seconds - elapsed))
            if span <= 0:
                break
            slope = (rate1 - rate0) / length if math.isfinite(length) and length > 0 else 0.0
            total += rate0 * span + slope * span * span / 2
            elapsed += length
        return total

    def time_of(self, k: int) -> float | None:
        """Seconds from the start at which arrival ``k`` (0-based) is due; None when the schedule ends first."""
        target, elapsed = float(k), 0.0
        for length, rate0, rate1 in self.segments:
            slope = (rate1 - rate0) / length if math.isfinite(length) and length > 0 else 0.0
            in_segment = rate0 * length + slope * length * length / 2 if math.isfinite(length) else math.inf
            if target < in_segment - 1e-9:
                # solve rate0*t + slope*t²/2 = target for the smallest t ≥ 0
                if abs(slope) < 1e-12:
                    return elapsed + (target / rate0 if rate0 > 0 else math.inf)
                root = rate0 * rate0 + 2 * slope * target
                return elapsed + (-rate0 + math.sqrt(max(0.0, root))) / slope
            target -= in_segment
            elapsed += length
        return None


class Pacing:
    """This process's pacing: closed model (tickets, when there is an iteration budget) or open model."""

    def __init__(self) -> None:
        self.configure()

    def configure(
        self,
        *,
        schedule: ArrivalSchedule | None = None,
        t0: float = 0.0,
        share: tuple[int, int] = (0, 1),
        max_lateness: float = 10.0,
        iterations: int | None = None,
        measurements: Measurements | None = None,
    ) -> None:
        index, shares = share
        self.schedule, self.t0, self.max_lateness = schedule, t0, max_lateness
        self.iterations = iterations
        self.shares, self._next = shares, index
        self.measurements = measurements or MEASUREMENTS
        # closed model: this process's share of the iteration budget
        self._tickets = None if iterations is None else iterations // shares + (index < iterations % shares)
        self.paced = schedule is not None or iterations is not None

    @property
    def open_model(self) -> bool:
        return self.schedule is not None

    def next_start(self) -> float | None:
        """Claim the next journey: its intended start (wall clock), ``now`` in the closed model, or None when
        the run has no more journeys for this process. Never yields, so claims are atomic among greenlets."""
        if self.schedule is None:
            if self._tickets is not None:
                if self._tickets <= 0:
                    return None
                self._tickets -= 1
            return time.time()
        while True:
            k, self._next = self._next, self._next + self.shares
            if self.iterations is not None and k >= self.iterations:
                return None
            offset = self.schedule.time_of(k)
            if offset is None:
                return None
            intended = self.t0 + offset
            if time.time() - intended > self.max_lateness:
                self.measurements.record_arrival(started=False)
                continue
            self.measurements.record_arrival(started=True)
            return intended

    def unstarted_due(self, now: float) -> int:
        """Open model: arrivals of this process that were due by ``now`` but never claimed (dropped at the end)."""
        if self.schedule is None:
            return 0
        due = math.ceil(self.schedule.count_until(max(0.0, now - self.t0)))
        if self.iterations is not None:
            due = min(due, self.iterations)
        index = self._next % self.shares
        mine = max(0, (due - index + self.shares - 1) // self.shares)  # k < due with k ≡ index (mod shares)
        claimed = (self._next - index) // self.shares
        return max(0, mine - claimed)


PACING = Pacing()
