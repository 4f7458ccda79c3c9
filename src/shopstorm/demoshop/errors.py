"""Every error the demo shop answers is JSON: ``{"error": "<human text>"}``, plus ``reason`` for refusals.

:class:`ApiError` is what handlers raise for a 4xx (or a fault's deliberate 500); the exception handlers here
turn it, Starlette's own 404/405, and any unexpected exception into a JSON response, so a client never has to
parse an HTML or plain-text error page.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

logger = logging.getLogger("shopstorm.demoshop")


class ApiError(Exception):
    """An error answer: HTTP status, human text, and an optional machine-readable refusal reason."""

    def __init__(self, status: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason

    def response(self) -> JSONResponse:
        body: dict[str, str] = {"error": self.message}
        if self.reason is not None:
            body["reason"] = self.reason
        return JSONResponse(body, status_code=self.status)


def not_found(kind: str, entity_id: str) -> ApiError:
    """The 404 for an id the store does not hold."""
    return ApiError(404, f"{kind} {entity_id!r} not found")


async def api_error_response(_request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error.response()


async def http_error_response(_request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return JSONResponse({"error": error.detail}, status_code=error.status_code, headers=error.headers)


async def internal_error_response(_request: Request, error: Exception) -> Response:
    logger.error("unhandled error: %r", error)
    return JSONResponse({"error": "internal error"}, status_code=500)
