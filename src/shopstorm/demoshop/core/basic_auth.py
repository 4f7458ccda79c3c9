"""Optional HTTP basic auth in front of the whole demo shop (``--basic-auth user:pass``), like a staging shop.

When it is on, every request except ``/health`` must carry the credentials, webshop API and storefront alike;
otherwise the shop answers 401 with ``WWW-Authenticate: Basic realm="demo shop"`` (JSON body, like every other
error of the shop). ``/health`` stays open so that launchers and load tools can wait for the shop. The checkout
API (``/v1/...``) is not guarded here: it has its own bearer token in the same ``Authorization`` header, and its
Stripe intake must stay reachable by the provider.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

REALM = "demo shop"
_OPEN_PATHS = frozenset({"/health"})
_OWN_AUTH_PREFIX = "/v1/"  # the checkout API: bearer token (bearer_auth.py)


class BasicAuthError(ValueError):
    """A ``--basic-auth`` value that is not ``user:pass``."""


@dataclass(frozen=True)
class BasicAuthCredentials:
    user: str
    password: str

    @classmethod
    def parse(cls, raw: str) -> BasicAuthCredentials:
        """``user:pass`` (the password may contain ``:``); neither part may be empty."""
        user, separator, password = raw.partition(":")
        if not separator or not user or not password:
            raise BasicAuthError("--basic-auth must be USER:PASS with a non-empty user and password")
        return cls(user, password)

    def __str__(self) -> str:
        return f"{self.user}:{self.password}"

    def accepts(self, authorization: str) -> bool:
        """Whether an ``Authorization`` header value carries these credentials."""
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(decoded, str(self).encode())


class BasicAuthMiddleware:
    """Refuses every request but ``/health`` that lacks the shop's basic-auth credentials."""

    def __init__(self, app: ASGIApp, credentials: BasicAuthCredentials) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path not in _OPEN_PATHS and not path.startswith(_OWN_AUTH_PREFIX):
            headers = dict(scope["headers"])
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            if not self.credentials.accepts(authorization):
                response = JSONResponse(
                    {"error": "authentication required"},
                    status_code=401,
                    headers={"WWW-Authenticate": f'Basic realm="{REALM}"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
