"""What every target is: a driver for one family of shop API.

A target knows how to reach the shop, seed test data before the load (:meth:`Target.seed`, run once in the master
or local process), and hand each shopper a client bound to that shopper's HTTP session (:meth:`Target.shopper`).
It knows nothing of gates or reports.

Every answer is classified by :func:`shopstorm.replies.classify` (the status is the truth; bodies are read only
for a needed field); :func:`call` is one journey step through a shopper's Locust session: it streams the body up
to the cap, classifies it, marks the request, and fails the journey on an unexpected outcome.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

import gevent

from shopstorm.audit.invariants import AuditResult, check
from shopstorm.audit.ledger import STOPPED, Entry
from shopstorm.audit.state import Baseline, ShopState
from shopstorm.errors import UsageError
from shopstorm.replies import (
    MAX_BODY,
    MISSING_ENDPOINT,
    AnswerTooLarge,
    JourneyFailed,
    Outcome,
    Reply,
    classify,
    decode,
    missing_field,
    read_body,
)
from shopstorm.settings import Settings

QUIET_READS = 6  # reads of the shop's state at most, after a run that cut calls off, until two agree
QUIET_READ_PAUSE_S = 0.5

Reading = TypeVar("Reading")


def read_until_steady(read: Callable[[], Reading], done: Callable[[Reading], bool] = lambda _: False) -> Reading:
    """Read the shop's state, and again (QUIET_READ_PAUSE_S apart, QUIET_READS reads at most) until a reading is
    ``done`` or equals the one before: writes the end of the run cut off may still be committing, and a reading
    taken mid-commit would look like a loss. A race settles; a real loss reads the same twice and stays."""
    reading = read()
    for _ in range(QUIET_READS - 1):
        if done(reading):
            break
        gevent.sleep(QUIET_READ_PAUSE_S)
        again = read()
        if again == reading:
            break
        reading = again
    return reading


class Target(ABC):
    """A driver for one family of shop API. Subclass it (and a :class:`~shopstorm.journeys.ShopstormUser`
    whose ``target_class`` names it) to test your own shop."""

    name: ClassVar[str]
    description: ClassVar[str]
    keeps_ledger: ClassVar[bool] = False  # True: the ledger is kept even without --audit (the target reports from it)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seed_data: dict[str, Any] = {}

    @property
    @abstractmethod
    def base_url(self) -> str:
        """The URL Locust is given as ``--host`` (shown in its web UI; relative paths resolve against it)."""

    @abstractmethod
    def seed(self) -> dict[str, Any]:
        """Reach the shop and create the test data the journeys need; return it as JSON-able data.

        Runs once, before the load, in the master or local process. Raise
        :class:`~shopstorm.errors.TargetUnreachable` when the shop cannot be reached or refuses the seed.
        """

    def seed_plan(self) -> str:
        """What :meth:`seed` is about to create, in a few words, for the line printed while it runs."""
        return ""

    def use_seed(self, seed_data: dict[str, Any], share: tuple[int, int] = (0, 1)) -> None:
        """Adopt the seed made by :meth:`seed` (in this process or, for workers, on the master).

        ``share`` is (this process's index, number of load processes), for seeds that are divided among them.
        """
        self.seed_data = seed_data

    def baseline(self) -> Baseline:
        """What the seed put in the shop, for the audit."""
        raise UsageError(f"the {self.name} target cannot be audited yet")

    def read_state(self, entries: Iterable[Entry]) -> ShopState:
        """Read back every seeded entity and every entity the ledger touched."""
        raise UsageError(f"the {self.name} target cannot be audited yet")

    def audit(self, entries: list[Entry]) -> AuditResult:
        """After the load, in the master or local process: hold the shop's state against the seed and the merged
        ledger. By default the stock/credit/orders model of :mod:`shopstorm.audit.invariants`.

        Calls the end of the run cut off may still be running in the shop: a checkout that commits between the read
        of its item and the read of its order would look like stock that vanished or appeared. So when the ledger
        has such calls, the state is read again until two reads in a row agree (at most QUIET_READS times).
        """
        cut_off = any(entry.detail == STOPPED for entry in entries)
        state = read_until_steady(lambda: self.read_state(entries), done=lambda _: not cut_off)
        return check(self.baseline(), entries, state)

    def unreported(self, share: tuple[int, int], entries: Iterable[Entry]) -> list[Entry]:
        """Calls a load process lost mid-run (killed, hung) may have made but never reported, as ``unknown``
        ledger entries (detail :data:`~shopstorm.audit.ledger.LOST`) for the audit to resolve against state.

        ``share`` is the lost process's (index, number of load processes), as :meth:`use_seed` gave it. By default
        none: a target whose shoppers work on entities nobody listed before the load cannot name them."""
        return []

    @classmethod
    def environment_gates(cls, environ: Mapping[str, str]) -> list[str]:
        """Gates set through the environment variables of this target's own suite, as gate texts naming this
        target's requests (the engine parses them with the others); a bad value raises UsageError. None by default."""
        return []

    def check_audit(self) -> None:
        """Refuse ``--audit`` (UsageError) before any load when this target cannot audit."""
        if type(self).audit is Target.audit:
            self.baseline()  # the default audit needs a baseline: a target without one says so here

    def check_journeys(self, names: Iterable[str]) -> None:
        """Refuse (UsageError) a mix of journeys this target cannot run with these settings, before any load."""
        return None

    def report_sections(self, entries: list[Entry]) -> dict[str, Any]:
        """Extra top-level sections for summary.json, made after the load in the master or local process."""
        return {}

    def finish(self) -> None:
        """Release what the seed set up (listeners, registrations) once the run is reported."""
        return None

    @abstractmethod
    def shopper(self, http: Any) -> Any:
        """A client for one shopper, bound to that shopper's Locust HTTP session."""


def call(
    http: Any,
    method: str,
    url: str,
    *,
    name: str,
    step: str,
    expect: Outcome | tuple[Outcome, ...] = "ok",
    expect_reason: str | None = None,
    need: tuple[str, ...] = (),
    **request: Any,
) -> Reply:
    """One journey step through a shopper's Locust session: classify the answer, mark the request, and raise
    :class:`JourneyFailed` unless the outcome is the one expected.

    ``name`` is the templated name for the statistics (``/orders/checkout/[order_id]``). ``expect_reason``
    checks the ``reason`` of a refusal when the shop gives one (a shop that gives none is taken at its word).
    ``need`` names the fields of an ok answer the step reads: without them the step fails, naming the field.
    Anything else (``json=``, ``data=``, ``headers=``) goes to the session's request.
    """
    limit = getattr(getattr(http, "user", None), "max_body", MAX_BODY)
    # streamed: the body is read here, up to the cap, instead of whole by the client
    with http.request(method, url, name=name, catch_response=True, stream=True, **request) as response:
        status = response.status_code or 0
        # FastHttp also sets .error for every 4xx/5xx; only a missing status means there was no answer.
        error = getattr(response, "error", None) if status == 0 else None
        text = None
        if status:
            try:
                body = read_body(response, limit)
                text = decode(body, response.headers.get("content-type") if response.headers else None)
                response._cached_content = body
                response.request_meta["response_length"] = len(body)
            except AnswerTooLarge as too_large:
                error = too_large
            except Exception as read_error:  # a body cut off mid-read is an unknown outcome, not a crash
                error, status = read_error, 0
            start = response.request_meta.get("start_time")
            if start:  # the body's download counts in the response time, as it does unstreamed
                response.request_meta["response_time"] = (time.time() - start) * 1000
        reply = classify(status, text, error)
        problem = _unexpected(reply, step, expect, expect_reason)
        if problem is None and reply.outcome == "ok":
            missing = next((m for m in map(lambda key: missing_field(reply, key), need) if m), None)
            problem = f"{step} ({method} {name}): {missing}" if missing else None
        elif problem is not None and reply.status in (404, 405):
            problem = f"{step}: HTTP {reply.status} ({MISSING_ENDPOINT} {method} {name})"
        if problem is None:
            response.success()
            return reply
        response.failure(problem)
    raise JourneyFailed(problem, reply)


def _unexpected(
    reply: Reply, step: str, expect: Outcome | tuple[Outcome, ...], expect_reason: str | None
) -> str | None:
    expected = (expect,) if isinstance(expect, str) else expect
    if reply.outcome in expected:
        if reply.outcome != "refused" or expect_reason is None or not isinstance(reply.body, dict):
            return None
        reason = reply.body.get("reason")
        if reason in (None, expect_reason):
            return None
        return f"{step} was refused for {reason}, expected {expect_reason}"
    if expected == ("refused",) and reply.outcome == "ok":
        return f"{step} was expected to be refused ({expect_reason or 'refusal'}) but the shop accepted it"
    if reply.outcome == "refused":
        return f"{step} refused ({reply.detail})"
    if len(expected) > 1:
        return f"{step}: {reply.detail} (expected {' or '.join(expected)})"
    return f"{step}: {reply.detail}"
