"""HDR latency histograms keyed by name, with exact worker-to-master merging.

Locust rounds its response-time buckets to about two significant figures; shopstorm keeps an HdrHistogram
(3 significant digits, 1 µs to 1 h) per request name and per journey. A worker ships the *delta* since its last
report as the histogram's compressed encoding; the master adds it to its own. Adding HDR histograms is exact,
so the master's percentiles equal those of one histogram holding every sample.

Recording is on every request's hot path, and hdrhistogram's ``record_value`` is pure Python (about a
microsecond each). So a sample is first only appended to its name's list of raw samples; every ``FOLD_AT``
samples, and before anything reads or ships the histograms, the list is folded in at once (:func:`fold`), with the
same counts, total, minimum and maximum as recording each sample on its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_FIGURES = 3
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
FOLD_AT = 4096  # raw samples a name keeps before they are folded into its histogram


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


def fold(samples_ms: list[float], *histograms: HdrHistogram) -> None:
    """Record every sample (milliseconds) into each of ``histograms`` (made by :func:`new_histogram`).

    The same as ``record_value(int(ms * 1000))`` per sample and histogram, the microseconds clamped to 1 µs..1 h, at
    a fraction of the cost: equal samples are counted together, and each distinct one finds its counter once.
    """
    if not samples_ms:
        return
    by_micros = Counter([int(ms * 1000) for ms in samples_ms])
    lowest, highest = min(by_micros), max(by_micros)
    if lowest < LOWEST_US or highest > HIGHEST_US:
        clamped: Counter[int] = Counter()
        for micros, count in by_micros.items():
            clamped[min(max(micros, LOWEST_US), HIGHEST_US)] += count
        by_micros, lowest, highest = clamped, max(lowest, LOWEST_US), min(highest, HIGHEST_US)
    # HdrHistogram._counts_index_for, once per distinct value: a value's bucket is how far its bit length exceeds
    # the sub-bucket range (none for the first bucket); its counter is the bucket's base plus the value shifted
    # into the bucket's resolution.
    layout = histograms[0]
    unit, half = layout.unit_magnitude, layout.sub_bucket_half_count_magnitude
    sub_bucket_bits = unit + half + 1
    first_bucket_end = 1 << sub_bucket_bits
    by_index = []
    for micros, count in by_micros.items():
        if micros < first_bucket_end:
            by_index.append((micros >> unit, count))
        else:
            bucket = micros.bit_length() - sub_bucket_bits
            by_index.append(((bucket << half) + (micros >> (bucket + unit)), count))
    for histogram in histograms:
        counts = histogram.counts
        for index, count in by_index:
            counts[index] += count
        histogram.total_count += len(samples_ms)
        histogram.min_value = min(histogram.min_value, lowest)
        histogram.max_value = max(histogram.max_value, highest)


@dataclass
class LatencySummary:
    """Count and percentiles of one histogram, in milliseconds."""

    count: int
    percentiles_ms: dict[str, float]
    max_ms: float
    mean_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return {"count": self.count, **self.percentiles_ms, "max": self.max_ms, "mean": self.mean_ms}


def percentile_key(percentile: float) -> str:
    """``50.0`` → ``p50``, ``99.9`` → ``p99.9``."""
    return f"p{percentile:g}"


def summarize(histogram: HdrHistogram) -> LatencySummary:
    count = histogram.get_total_count()
    if count == 0:
        return LatencySummary(0, {percentile_key(p): 0.0 for p in PERCENTILES}, 0.0, 0.0)
    return LatencySummary(
        count=count,
        percentiles_ms={percentile_key(p): round(histogram.get_value_at_percentile(p) / 1000, 3) for p in PERCENTILES},
        max_ms=round(histogram.get_max_value() / 1000, 3),
        mean_ms=round(histogram.get_mean_value() / 1000, 3),
    )


class HistogramSet:
    """One histogram per name. ``record`` on the hot path; ``take_delta``/``merge`` between processes.

    A process records each sample once, into what it uses: a worker (``ships=True``) only into the delta it
    reports to the master, a local or master process only into its totals. With ``window=True`` every sample, of
    any name, also lands in the window that :meth:`take_window` hands over (the time series). Every read folds
    the raw samples in first, so no sample is read late, lost or counted twice.
    """

    def __init__(self, ships: bool = False, window: bool = False) -> None:
        self.ships = ships
        self._total: dict[str, HdrHistogram] = {}
        self._delta: dict[str, HdrHistogram] = {}
        self._raw: dict[str, list[float]] = {}  # samples not folded in yet, in milliseconds
        self._window = new_histogram() if window else None

    def record(self, name: str, milliseconds: float) -> None:
        """Record one sample."""
        raw = self._raw.get(name)
        if raw is None:
            raw = self._raw[name] = []
        raw.append(milliseconds)
        if len(raw) >= FOLD_AT:
            self._fold(name)

    def _fold(self, name: str) -> None:
        table = self._delta if self.ships else self._total
        histogram = table.get(name)
        if histogram is None:
            histogram = table[name] = new_histogram()
        raw = self._raw.pop(name)
        if self._window is None:
            fold(raw, histogram)
        else:
            fold(raw, histogram, self._window)

    def flush(self) -> None:
        """Fold every raw sample into its histograms."""
        for name in list(self._raw):
            self._fold(name)

    def take_delta(self) -> dict[str, str]:
        """Encoded histograms of what was recorded since the last call (for ``report_to_master``)."""
        self.flush()
        delta = {name: h.encode().decode("ascii") for name, h in self._delta.items() if h.get_total_count()}
        self._delta = {}
        return delta

    def take_window(self) -> HdrHistogram:
        """Every sample of every name since the last call, recorded here or merged (needs ``window=True``)."""
        assert self._window is not None, "this set keeps no window"
        self.flush()
        window, self._window = self._window, new_histogram()
        return window

    def merge(self, encoded: dict[str, str], window: str = "") -> None:
        """Add a worker's delta to the totals, and its window to this window (on the master)."""
        for name, text in encoded.items():
            histogram = self._total.get(name)
            if histogram is None:
                histogram = self._total[name] = new_histogram()
            histogram.decode_and_add(text)
        if window:
            assert self._window is not None, "this set keeps no window"
            self._window.decode_and_add(window)

    def names(self) -> Iterable[str]:
        self.flush()
        return sorted(self._total)

    def get(self, name: str) -> HdrHistogram:
        self.flush()
        return self._total.get(name) or new_histogram()

    def summary(self, name: str) -> LatencySummary:
        return summarize(self.get(name))

    def combined(self) -> HdrHistogram:
        self.flush()
        total = new_histogram()
        for histogram in self._total.values():
            total.add(histogram)
        return total

    def clear(self) -> None:
        self._total = {}
        self._delta = {}
        self._raw = {}
        if self._window is not None:
            self._window = new_histogram()
