"""Every error the demo shop answers is JSON: ``{"error": "<human text>"}``, plus ``reason`` for refusals —
except the webshop API in its reference style, which answers Flask's HTML error pages (:func:`flask_error_page`).

:class:`ApiError` is what handlers raise for a 4xx (or a fault's deliberate 500); the exception handlers here
turn it, Starlette's own 404/405, and any unexpected exception into a JSON response, so a client never has to
parse an HTML or plain-text error page. The checkout API (``/v1``) answers Polar's shape instead,
``{"error": "<Type>", "detail": <text or list>}``: its handlers raise :class:`TypedApiError`.
"""

from __future__ import annotations

import html
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


# Werkzeug's names and default descriptions for the error pages Flask answers with.
_FLASK_ERRORS = {
    400: ("Bad Request", "The browser (or proxy) sent a request that this server could not understand."),
    404: (
        "Not Found",
        "The requested URL was not found on the server. If you entered the URL manually please check your "
        "spelling and try again.",
    ),
    405: ("Method Not Allowed", "The method is not allowed for the requested URL."),
    413: ("Request Entity Too Large", "The data value transmitted exceeds the capacity limit."),
    500: (
        "Internal Server Error",
        "The server encountered an internal error and was unable to complete your request. Either the server is "
        "overloaded or there is an error in the application.",
    ),
}


def flask_error_page(status: int, description: str | None = None, headers: dict[str, str] | None = None) -> Response:
    """The HTML page Flask (Werkzeug) answers for ``abort(status, description)``."""
    name, default = _FLASK_ERRORS.get(status, _FLASK_ERRORS[400 if status < 500 else 500])
    body = (
        "<!doctype html>\n<html lang=en>\n"
        f"<title>{status} {html.escape(name)}</title>\n<h1>{html.escape(name)}</h1>\n"
        f"<p>{html.escape(description or default)}</p>\n"
    )
    return Response(body, status_code=status, media_type="text/html", headers=headers)


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
    """The 404 for an id the store does not hold, worded as the course's reference implementation words it."""
    return ApiError(404, f"{kind.capitalize()}: {entity_id} not found!")


async def api_error_response(_request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error.response()


async def http_error_response(request: Request, error: Exception) -> Response:
    """Starlette's 404/405 as JSON; under the paths in ``app.state.flask_pages_under`` (the webshop API in its
    reference style), as Flask's HTML page."""
    assert isinstance(error, HTTPException)
    if request.url.path.startswith(getattr(request.app.state, "flask_pages_under", ())):
        return flask_error_page(error.status_code, None, dict(error.headers or {}))
    return JSONResponse({"error": error.detail}, status_code=error.status_code, headers=error.headers)


async def internal_error_response(_request: Request, error: Exception) -> Response:
    logger.error("unhandled error: %r", error)
    return JSONResponse({"error": "internal error"}, status_code=500)
