"""A target's calls outside the load: a plain HTTP session for seeding before it and reading state after it.

These run in the master or local process with short timeouts, many at a time but bounded. A seeding call
(:meth:`AdminSession.send`) stops the run at the first failure with one line (exit code 4); a state read
(:meth:`AdminSession.read`) never raises: an entity that cannot be read is marked unreadable with the reason
(:meth:`AdminSession.keep`), and the audit reports it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from gevent.pool import Pool

from shopstorm.audit.state import ShopState
from shopstorm.errors import TargetUnreachable
from shopstorm.replies import MAX_BODY, READ_CHUNK, AnswerTooLarge, Reply, classify, decode, missing_field

WHOLE_NUMBER_LIMIT = 2**63  # a stock, credit or count beyond a 64-bit integer is no shop's real state
CONCURRENCY = 32
TIMEOUT = (3.0, 10.0)  # connect, read: an unreachable shop is reported well within 10 s

T = TypeVar("T")


def plain_error(error: requests.RequestException) -> str:
    """'connection refused' rather than a urllib3 repr three exceptions deep."""
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "timed out", "Connection reset"):
        if marker in text:
            return marker.lower()
    return type(error).__name__


def whole_number(body: Any, key: str) -> int:
    """``body[key]`` as an int; ValueError when it is missing or not a whole number (booleans are not)."""
    value = body.get(key) if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key!r} is not a whole number: {_shown(value)}")
    if value != int(value) or abs(value) > WHOLE_NUMBER_LIMIT:
        raise ValueError(f"{key!r} is not a plausible whole number: {_shown(value)}")
    return int(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


@dataclass(frozen=True)
class Fetched:
    """One answer as :meth:`AdminSession.fetch` read it."""

    reply: Reply
    text: str | None
    url: str  # where the answer came from, after redirects


class AdminSession:
    """One HTTP session (optionally with basic auth or extra headers) and a bounded pool of greenlets."""

    def __init__(
        self, auth: tuple[str, str] | None = None, headers: dict[str, str] | None = None, max_body: int = MAX_BODY
    ) -> None:
        self.max_body = max_body
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers.update(headers or {})
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.pool = Pool(CONCURRENCY)

    def map(self, function: Callable[..., T], *iterables: Iterable) -> list[T]:
        """``function`` over the arguments, at most CONCURRENCY at a time, results in order.

        The first error stops the rest (calls not yet started are skipped) and is raised here, once: gevent would
        print a traceback for every greenlet that failed, a dozen for a shop that refuses a seed halfway."""
        failed: list[BaseException] = []

        def guarded(*args: Any) -> T | None:
            if failed:
                return None
            try:
                return function(*args)
            except Exception as error:  # kept, and raised once in the caller
                failed.append(error)
                return None

        results = list(self.pool.imap(guarded, *iterables))
        if failed:
            raise failed[0]
        return results  # type: ignore[return-value]

    def read(self, method: str, url: str, **kwargs: Any) -> Reply:
        """One call, classified; never raises. The body is read up to ``max_body`` bytes: a larger answer is an
        unknown outcome ("answer larger than …"), not gigabytes in memory."""
        return self.fetch(method, url, **kwargs).reply

    def fetch(self, method: str, url: str, **kwargs: Any) -> Fetched:
        """One call as :meth:`read` makes it, with the answer's text (None when there was none, or it was over
        ``max_body``) and the URL it came from after redirects, for a page whose links resolve against it."""
        try:
            with self.session.request(method, url, timeout=TIMEOUT, stream=True, **kwargs) as response:
                chunks, size = [], 0
                for chunk in response.iter_content(READ_CHUNK):
                    size += len(chunk)
                    if size > self.max_body:
                        too_large = classify(response.status_code, None, AnswerTooLarge(self.max_body))
                        return Fetched(too_large, None, response.url)
                    chunks.append(chunk)
                text = decode(b"".join(chunks), response.headers.get("content-type"))
        except requests.RequestException as error:
            return Fetched(Reply(0, "unknown", None, f"connection error: {plain_error(error)}"), None, url)
        return Fetched(classify(response.status_code, text, None), text, response.url)

    def send(self, method: str, url: str, name: str, *, missing_ok: bool = False, **kwargs: Any) -> Reply:
        """One seeding call: anything but ok (or a missing endpoint, when allowed) stops the run (exit 4)."""
        reply = self.read(method, url, **kwargs)
        if reply.outcome == "ok" or (missing_ok and reply.status in (404, 405)):
            return reply
        if reply.status == 0:
            raise self.unreachable(method, url, reply)
        if reply.status == 401:
            raise TargetUnreachable(f"the shop refused {method} {name}: HTTP 401 (check the credentials or token)")
        raise TargetUnreachable(f"the shop refused {method} {name}: {reply.detail}")

    @staticmethod
    def unreachable(method: str, url: str, reply: Reply) -> TargetUnreachable:
        """The seed's one line for a call that got no answer (``reply.status`` 0): exit code 4."""
        return TargetUnreachable(f"cannot reach the shop: {method} {url}: {reply.detail.split(': ', 1)[-1]}")

    @staticmethod
    def field(reply: Reply, key: str, call: str) -> str:
        """``reply.body[key]`` as a string; a missing field stops the seed (exit 4)."""
        problem = missing_field(reply, key)
        if problem is not None:
            raise TargetUnreachable(f"the shop's {call} cannot be read: {problem}")
        return str(reply.body[key])

    @staticmethod
    def keep(
        state: ShopState,
        kind: str,
        entity: str,
        reply: Reply,
        parse: Callable[[Any], Any],
        into: dict[str, Any] | None = None,
    ) -> None:
        """Put what ``parse`` makes of a state read into ``state`` (kind item, user or order; or ``into``), or mark
        the entity unreadable with the reason when the read failed or its answer makes no sense."""
        if reply.outcome != "ok":
            state.unreadable[kind, entity] = reply.detail
            return
        try:
            value = parse(reply.body)
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as error:
            why = f" ({reply.detail})" if "unreadable JSON" in reply.detail else ""
            state.unreadable[kind, entity] = f"unreadable answer: {error}{why}"
            return
        if into is None:
            into = {"item": state.items, "user": state.users, "order": state.orders}[kind]
        into[entity] = value
