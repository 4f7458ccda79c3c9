"""What the shop told a shopper: the answer vocabulary every layer shares.

The ground floor of shopstorm: targets classify answers with it, the ledger records its outcomes, journeys fail
with :class:`JourneyFailed`. It imports nothing of shopstorm.

Every answer from the shop is classified once, here, into what the shopper was told. The status is the truth;
the body is read only where a field is needed:

- ``ok``: a 2xx, whatever the body (JSON, plain text, HTML, empty) — the course API answers its state changes
  with text such as ``Item: <id> stock updated to: 5``;
- ``refused``: a 4xx — the shop said no (out of stock, no credit, bad input, unknown id). The reason shown is the
  JSON ``reason``, a validation ``detail`` list as ``field: message``, ``error`` or ``detail`` when there is one,
  else the first line of the text (HTML tags stripped, ids masked, at most 80 characters);
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
import zlib
from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["ok", "refused", "unknown"]
REASON_CHARS = 80  # a refusal's reason is cut to this many characters
# Marks a failure reason of a step whose endpoint answered 404/405: "<step>: HTTP 405 (no such endpoint? …)"
MISSING_ENDPOINT = "no such endpoint?"
MAX_BODY = 1_000_000  # bytes of an answer read at most (--max-body): a larger one is an unknown outcome
READ_CHUNK = 64 * 1024


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
_EMAIL = re.compile(r"[^\s@'\"]+@[^\s@'\"]+")
_HTML_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.IGNORECASE | re.DOTALL)
_HTML_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
# uuids, long hex or digit runs, and bare numbers: the ids and amounts that would split one reason into many
_ID = re.compile(r"\b(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]*\d[0-9a-f]*)\b", re.I)


def refusal_reason(body: Any, text: str | None) -> str:
    """A short, id-free reason for a refusal: the JSON ``reason``; else a validation ``detail`` list (FastAPI's and
    Polar's 422: ``[{"loc", "msg"}]``) as ``field: message``, emails masked; else the JSON ``error`` or ``detail``
    string; else the text's first line. An HTML error page (Flask's ``abort(400, "…")``) gives its message."""
    if isinstance(body, dict):
        reason = body.get("reason")
        if isinstance(reason, str) and reason.strip():
            return _short(reason)
        problems = validation_problems(body.get("detail"))
        if problems:
            return _short(problems)
        for key in ("error", "detail"):
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


def validation_problems(detail: Any) -> str:
    """A validation error list ``[{"loc": ["body", "prices"], "msg": "Field required"}, …]`` as
    ``prices: Field required; …`` (where in the request it was, body, query or path, and list indexes left out;
    emails masked, so equal problems read alike); "" when ``detail`` is not such a list."""
    if not isinstance(detail, list):
        return ""
    problems = []
    for problem in detail:
        if not isinstance(problem, dict) or not isinstance(problem.get("msg"), str):
            return ""
        loc = problem.get("loc") if isinstance(problem.get("loc"), list) else []
        field = ".".join(str(part) for part in loc if part not in ("body", "query", "path") and isinstance(part, str))
        message = _EMAIL.sub("[email]", problem["msg"])
        problems.append(f"{field}: {message}" if field else message)
    return "; ".join(problems)


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
