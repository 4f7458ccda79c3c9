"""What every target is: a driver for one family of shop API.

A target knows how to reach the shop, seed test data before the load (:meth:`Target.seed`, run once in the master
or local process), and hand each shopper a client bound to that shopper's HTTP session (:meth:`Target.shopper`).
It knows nothing of gates or reports.

Every answer from the shop is classified once, here, into what the shopper was told. The status is the truth;
the body is read only where a field is needed:

- ``ok``: a 2xx, whatever the body (JSON, plain text, HTML, empty) — the course API answers its state changes
  with text such as ``Item: <id> stock updated to: 5``;
- ``refused``: a 4xx — the shop said no (out of stock, no credit, bad input, unknown id). The reason shown is the
  JSON ``reason``, ``error`` or ``detail`` when there is one, else the first line of the text (HTML tags stripped,
  ids masked, at most 80 characters);
- ``unknown``: a 5xx, a timeout, a lost connection — the shopper cannot know what happened.

A step that needs a field of the answer (``item_id``, ``order_id``…) names it (``need=``): a 2xx whose body is
not JSON or lacks the field fails the step with the endpoint and the field named. A step states which outcome it
expects; anything else fails the request and the journey with a short, id-free reason, so equal failures group
together in the statistics. A 404 or 405 says the shop may not have the endpoint at all: the reason says so, and
the report names an endpoint that never answered anything else (:data:`MISSING_ENDPOINT`).
"""

from __future__ import annotations

import html
import json
import math
import re
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import gevent

from shopstorm.errors import UsageError
from shopstorm.settings import Settings

if TYPE_CHECKING:
    from shopstorm.audit.invariants import AuditResult
    from shopstorm.audit.ledger import Entry
    from shopstorm.audit.state import Baseline, ShopState

Outcome = Literal["ok", "refused", "unknown"]
REASON_CHARS = 80  # a refusal's reason is cut to this many characters
# Marks a failure reason of a step whose endpoint answered 404/405: "<step>: HTTP 405 (no such endpoint? …)"
MISSING_ENDPOINT = "no such endpoint?"
MAX_BODY = 1_000_000  # bytes of an answer read at most (--max-body): a larger one is an unknown outcome
READ_CHUNK = 64 * 1024
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


class JourneyFailed(Exception):
    """A journey step went wrong; the message says which step and why, without entity ids.

    ``reply`` is what the shop answered (``None`` when the failure was not about an answer).
    """

    def __init__(self, message: str, reply: Reply | None = None) -> None:
        super().__init__(message)
        self.reply = reply


@dataclass(frozen=True)
class Reply:
    """What one call to the shop told the shopper."""

    status: int
    outcome: Outcome
    body: Any  # parsed JSON, or None
    detail: str  # short and id-free: "HTTP 400 out_of_stock", "connection error: ConnectionRefusedError"

    def field(self, key: str) -> Any:
        """``body[key]``; :class:`JourneyFailed` when the body is not JSON or lacks it."""
        problem = missing_field(self, key)
        if problem is not None:
            raise JourneyFailed(problem, self)
        return self.body[key]


class AnswerTooLarge(Exception):
    """The shop's answer was larger than the body cap: it was not read, and its outcome is unknown."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"answer larger than {limit} bytes")


def classify(status: int, text: str | None, error: BaseException | None) -> Reply:
    """Classify one HTTP answer; ``status`` 0 with ``error`` set means no answer at all."""
    if isinstance(error, AnswerTooLarge):  # the shop answered, but what it said was not read
        return Reply(status, "unknown", None, f"HTTP {status} {error}" if status else str(error))
    if error is not None or status == 0:
        reason = type(error).__name__ if error is not None else "no response"
        return Reply(0, "unknown", None, f"connection error: {reason}")
    body, problem = read_json(text)
    note = f" (unreadable JSON: {problem})" if problem else ""
    if 200 <= status < 300:
        return Reply(status, "ok", body, f"HTTP {status}{note}")
    if 400 <= status < 500:
        reason = refusal_reason(body, text)
        return Reply(status, "refused", body, f"HTTP {status} {reason}" if reason else f"HTTP {status}")
    return Reply(status, "unknown", body, f"HTTP {status}")


def parse_json(text: str | None) -> Any:
    """The body as JSON, or None when there is none or it is not JSON (text, HTML) or not readable JSON."""
    return read_json(text)[0]


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"a number out of range: {text[:20]}")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"not a number: {name}")


def read_json(text: str | None) -> tuple[Any, str | None]:
    """(the body as JSON or None, why JSON-looking text could not be read). Numbers must be finite (``1e400``,
    ``NaN`` and ``Infinity`` are refused: no sum or comparison can hold them) and nesting is bounded by Python's
    recursion limit (a 100,000-deep body is refused, not a crash)."""
    if not text:
        return None, None
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constant), None
    except RecursionError:
        return None, "nested too deeply"
    except json.JSONDecodeError:  # not JSON at all (text, HTML): nothing to report, the status is the truth
        return None, None
    except ValueError as error:  # JSON, with a number no sum can hold (non-finite, thousands of digits)
        return None, str(error)[:60]


def read_body(response: Any, limit: int) -> bytes:
    """A streamed geventhttpclient answer's body, decompressed, at most ``limit`` bytes: :class:`AnswerTooLarge`
    (and the connection closed, not reused) when it is larger — declared or as it arrives."""
    declared = response.headers.get("content-length") if response.headers else None
    if declared and declared.isdigit() and int(declared) > limit:
        response.release()
        raise AnswerTooLarge(limit)
    chunks, size = [], 0
    while chunk := response.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            response.release()
            raise AnswerTooLarge(limit)
        chunks.append(chunk)
    response.release()
    body = b"".join(chunks)
    encoding = (response.headers.get("content-encoding") or "").lower() if response.headers else ""
    if encoding in ("gzip", "deflate"):
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
        body = inflate.decompress(body, limit + 1)  # a small body may inflate to gigabytes: stop past the cap
        if len(body) > limit:
            raise AnswerTooLarge(limit)
    return body


def decode(body: bytes, content_type: str | None) -> str:
    """The body as text: the charset the answer names, else UTF-8 (never a guess over the whole body)."""
    charset = "utf-8"
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


_TAG = re.compile(r"<[^>]*>")
_HTML_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.IGNORECASE | re.DOTALL)
_HTML_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
# uuids, long hex or digit runs, and bare numbers: the ids and amounts that would split one reason into many
_ID = re.compile(r"\b(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]*\d[0-9a-f]*)\b", re.I)


def refusal_reason(body: Any, text: str | None) -> str:
    """A short, id-free reason for a refusal: the JSON ``reason``/``error``/``detail`` (a string) when there is
    one, else the text's first line; an HTML error page (Flask's ``abort(400, "…")``) gives its message."""
    if isinstance(body, dict):
        for key in ("reason", "error", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return _short(value)
        return ""
    if not text or body is not None:
        return ""
    if "<" in text:
        found = _HTML_PARAGRAPH.search(text) or _HTML_TITLE.search(text)
        text = found.group(1) if found else _TAG.sub(" ", text)
    lines = (line.strip() for line in _TAG.sub("", text).splitlines())
    return _short(next((line for line in lines if line), ""))


def _short(text: str) -> str:
    text = " ".join(_ID.sub("[id]", html.unescape(text)).split())
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def missing_field(reply: Reply, key: str) -> str | None:
    """Why ``reply`` cannot give ``key`` (the body is not JSON, or lacks it), or None when it can."""
    if isinstance(reply.body, dict) and reply.body.get(key) is not None:
        return None
    if not isinstance(reply.body, dict):
        return f"answer is not a JSON object, needed its {key!r} ({reply.detail})"
    return f"answer has no {key!r} ({reply.detail})"


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
        from shopstorm.audit.invariants import check
        from shopstorm.audit.ledger import STOPPED

        cut_off = any(entry.detail == STOPPED for entry in entries)
        state = read_until_steady(lambda: self.read_state(entries), done=lambda _: not cut_off)
        return check(self.baseline(), entries, state)

    def unreported(self, share: tuple[int, int], entries: Iterable[Entry]) -> list[Entry]:
        """Calls a load process lost mid-run (killed, hung) may have made but never reported, as ``unknown``
        ledger entries (detail :data:`~shopstorm.audit.ledger.LOST`) for the audit to resolve against state.

        ``share`` is the lost process's (index, number of load processes), as :meth:`use_seed` gave it. By default
        none: a target whose shoppers work on entities nobody listed before the load cannot name them."""
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
