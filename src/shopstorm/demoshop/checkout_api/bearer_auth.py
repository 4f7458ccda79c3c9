"""The checkout API's access token: every ``/v1`` request but the Stripe intake carries ``Bearer <token>``.

The token comes from ``--api-token`` or ``SHOPSTORM_SHOP_API_TOKEN``, like a Polar organization access token. A
request without it, or with another one, is answered 401 ``{"error": "Unauthorized", "detail": ...}``; a shop
started without a token answers 401 to every such request, so the checkout API is never open by accident. The
comparison is constant-time.
"""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


class BearerAuthMiddleware:
    """Refuses every request that lacks ``Authorization: Bearer <token>``; everything when token is None."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            detail = self._refusal(dict(scope["headers"]).get(b"authorization", b""))
            if detail is not None:
                response = JSONResponse(
                    {"error": "Unauthorized", "detail": detail},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, authorization: bytes) -> str | None:
        if self.token is None:
            return "the checkout API is off: start the shop with --api-token or SHOPSTORM_SHOP_API_TOKEN"
        scheme, _, token = authorization.partition(b" ")
        if scheme.lower() != b"bearer":
            return "an Authorization: Bearer <token> header is required"
        if not hmac.compare_digest(token.strip(), self.token):
            return "the access token is not valid"
        return None
