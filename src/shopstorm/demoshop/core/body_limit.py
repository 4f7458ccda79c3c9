"""The request body cap of every route of the demo shop: 413 for a body larger than :data:`MAX_BODY_BYTES`.

A declared ``Content-Length`` over the cap is answered before anything of the body is read; a chunked body is
counted as the handler reads it and refused the moment it passes the cap, so no handler ever holds more than the
cap in memory. The 413 closes the connection, as a proxy in front of a real shop does, so the rest of the body
is never read either. It is answered in the style of the route's family: the checkout API's ``/v1`` (and its
Stripe intake) in Polar's ``{"error", "detail"}`` shape, the webshop API in its reference style as Flask's HTML
page, everything else as the shop's ``{"error"}`` JSON.
"""

from __future__ import annotations

import sys

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopstorm.demoshop.core.errors import flask_error_page

MAX_BODY_BYTES = 1024 * 1024
_CLOSE = {"connection": "close"}


class BodyTooLargeError(Exception):
    """The body being read passed the cap; :class:`BodyLimitMiddleware` answers 413."""


class BodyLimitMiddleware:
    """Refuses with 413 every request whose body is, or turns out to be, larger than ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.limit:
            await self._too_large(scope)(scope, receive, send)
            return
        received = 0
        started = False

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLargeError
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped_receive, watched_send)
        except BodyTooLargeError:
            if started:
                raise
            await self._too_large(scope)(scope, receive, send)

    def _too_large(self, scope: Scope) -> Response:
        path: str = scope.get("path", "")
        detail = f"the request body is larger than the shop's limit of {self.limit} bytes"
        if path.startswith("/v1/"):
            return JSONResponse({"error": "PayloadTooLarge", "detail": detail}, status_code=413, headers=_CLOSE)
        app = scope.get("app")
        flask_pages_under = getattr(getattr(app, "state", None), "flask_pages_under", ())
        if path.startswith(flask_pages_under):
            return flask_error_page(413, None, _CLOSE)
        return JSONResponse({"error": detail}, status_code=413, headers=_CLOSE)


def _declared_length(scope: Scope) -> int:
    """The request's ``Content-Length`` (0 when absent; the HTTP server has refused a malformed one)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value) if len(value) < 19 else sys.maxsize
    return 0
