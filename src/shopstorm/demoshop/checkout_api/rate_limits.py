"""Polar's sandbox rate limits on the checkout API, behind the ``sandbox-limits`` fault.

As Polar's server/polar/rate_limit.py sets them for its sandbox (asgi-ratelimit rules, counted per access
token in fixed windows): every ``/v1`` call, 100 a minute; a checkout confirm (``^/v1/checkouts/.+/confirm``),
also 6 a minute and 20 an hour, and a token past either is blocked from confirming for 30 minutes. A call over a
limit is answered 429 with ``Retry-After`` (seconds until it may try again) and nothing behind it runs. The
counts live in the shop process's memory: a demo shop, not a cluster.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import Counter
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class Rule:
    """At most ``limit`` calls per ``window_s`` seconds; past it, blocked for ``block_s`` (0: until the window
    ends)."""

    zone: str
    path: re.Pattern[str]
    limit: int
    window_s: int
    block_s: int = 0


CONFIRM = re.compile(r"^/v1/checkouts/.+/confirm")
SANDBOX_RULES = (
    Rule("api", re.compile(r"^/v1"), 100, 60),
    Rule("checkout-confirm", CONFIRM, 6, 60, 1800),
    Rule("checkout-confirm-hour", CONFIRM, 20, 3600, 1800),
)


class SandboxLimits:
    """Counts each token's calls per rule and window, and the blocks it earned."""

    def __init__(self, rules: tuple[Rule, ...] = SANDBOX_RULES) -> None:
        self.rules = rules
        self.calls: Counter[tuple[str, str, int]] = Counter()  # (token, zone, window number) -> calls
        self.blocked_until: dict[tuple[str, str], float] = {}  # (token, zone) -> when the block ends

    def retry_after(self, token: str, path: str, now: float) -> int | None:
        """Count one call of ``token`` to ``path``; None when it may go through, else the seconds to wait."""
        waits = []
        for rule in (rule for rule in self.rules if rule.path.match(path)):
            blocked = self.blocked_until.get((token, rule.zone), 0.0)
            if blocked > now:
                waits.append(blocked - now)
                continue
            window = int(now // rule.window_s)
            self.calls[token, rule.zone, window] += 1
            if self.calls[token, rule.zone, window] > rule.limit:
                ends = now + rule.block_s if rule.block_s else (window + 1) * rule.window_s
                if rule.block_s:
                    self.blocked_until[token, rule.zone] = ends
                waits.append(ends - now)
        return max(1, math.ceil(max(waits))) if waits else None


class SandboxLimitsMiddleware:
    """Answers 429 to a ``/v1`` call over the sandbox's limits for its bearer token."""

    def __init__(self, app: ASGIApp, limits: SandboxLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            authorization = dict(scope["headers"]).get(b"authorization", b"")
            token = hashlib.blake2b(authorization, digest_size=16).hexdigest()  # as Polar keys a token
            path = scope["path"]  # Starlette keeps the full path inside a Mount; older ones moved the prefix out
            if not path.startswith("/v1"):
                path = scope.get("root_path", "") + path
            wait = self.limits.retry_after(token, path, time.time())
            if wait is not None:
                response = JSONResponse(
                    {"error": "TooManyRequests", "detail": "Rate limit exceeded"},
                    status_code=429,
                    headers={"Retry-After": str(wait)},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
