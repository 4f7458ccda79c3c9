"""Every error the demo shop answers is JSON: ``{"error": "<human text>"}``, plus ``reason`` for refusals.

:class:`ApiError` is what handlers raise for a 4xx (or a fault's deliberate 500); the exception handlers here
turn it, Starlette's own 404/405, and any unexpected exception into a JSON response, so a client never has to
parse an HTML or plain-text error page. The checkout API (``/v1``) answers Polar's shape instead,
``{"error": "<Type>", "detail": <text or list>}``: its handlers raise :class:`TypedApiError`.
"""

from __future__ import annotations

import logging
from typing import Any

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


class TypedApiError(ApiError):
    """A checkout API error: HTTP status, a machine-readable type (``ResourceNotFound``) and its detail."""

    def __init__(self, status: int, error_type: str, detail: str | list[dict[str, Any]]) -> None:
        super().__init__(status, error_type)
        self.error_type = error_type
        self.detail = detail

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error_type, "detail": self.detail}, status_code=self.status)


def resource_not_found(kind: str, key: str) -> TypedApiError:
    """The checkout API's 404 for an id or client secret the store does not hold."""
    return TypedApiError(404, "ResourceNotFound", f"{kind} {key[:80]!r} not found")


def request_validation_error(errors: list[dict[str, Any]]) -> TypedApiError:
    """The checkout API's 422: ``detail`` lists every ``{"loc", "msg", "type"}`` found in the request."""
    return TypedApiError(422, "RequestValidationError", errors)


def field_error(field: str, message: str, error_type: str) -> TypedApiError:
    """A 422 for one field of the request body."""
    return request_validation_error([{"loc": ["body", field], "msg": message, "type": error_type}])


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
