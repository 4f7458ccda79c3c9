"""Django-style CSRF protection for the storefront: the ``csrftoken`` cookie and the check on every POST.

Every storefront GET sets the ``csrftoken`` cookie (the client's own if it is well-formed, else a new random
one) and exposes the token to its templates as ``request.state.csrf_token``. Every storefront POST must carry
the cookie and the same token in the form field ``csrfmiddlewaretoken`` or, for AJAX, the ``X-CSRFToken``
header; otherwise it is refused with 403 "CSRF verification failed" before its handler runs. A POST the shop
sees as HTTPS (its own scheme, or ``X-Forwarded-Proto: https`` from a proxy, Django's ``SECURE_PROXY_SSL_HEADER``)
must also carry a ``Referer`` of an HTTPS page of the same host, with Django's reasons when not
(``django/middleware/csrf.py``, ``CsrfViewMiddleware.process_view``). A login rotates the token
(:func:`rotate_token`, Django's ``rotate_token``). Tokens are compared as they are (Django masks them; a load tool
does not need that). Routes are built here, so a storefront POST cannot be registered without the check.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

COOKIE = "csrftoken"
FORM_FIELD = "csrfmiddlewaretoken"
HEADER = "X-CSRFToken"
_COOKIE_MAX_AGE_S = 365 * 24 * 3600  # Django's default
_TOKEN = re.compile(r"[A-Za-z0-9]{32,64}")
_MAX_FORM_BYTES = 64 * 1024

Form = dict[str, str]
PageHandler = Callable[[Request], Awaitable[Response]]
FormHandler = Callable[[Request, Form], Awaitable[Response]]

_FORBIDDEN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>403 Forbidden</title></head>
<body><h1>Forbidden <span>(403)</span></h1><p>CSRF verification failed. Request aborted.</p>
<p>{reason}</p></body></html>
"""


def page_route(path: str, handler: PageHandler) -> Route:
    """A GET route whose response sets the CSRF cookie and whose templates can read the token."""

    async def issue_token(request: Request) -> Response:
        token = request.cookies.get(COOKIE, "")
        if not _TOKEN.fullmatch(token):
            token = secrets.token_hex(16)
        request.state.csrf_token = token
        response = await handler(request)
        response.set_cookie(COOKIE, token, max_age=_COOKIE_MAX_AGE_S, path="/", samesite="lax")
        return response

    return Route(path, issue_token, methods=["GET"])


def form_route(path: str, handler: FormHandler) -> Route:
    """A POST route that refuses a missing or wrong CSRF token, and hands its handler the parsed form."""

    async def check_token(request: Request) -> Response:
        form = await read_form(request)
        refused_referer = _referer_problem(request)
        if refused_referer:
            return _forbidden(refused_referer)
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return _forbidden("CSRF cookie not set.")
        submitted = form.get(FORM_FIELD) or request.headers.get(HEADER, "")
        if not submitted:
            return _forbidden("CSRF token missing.")
        if not hmac.compare_digest(submitted.encode(), cookie.encode()):
            return _forbidden("CSRF token incorrect.")
        request.state.csrf_token = cookie
        return await handler(request, form)

    return Route(path, check_token, methods=["POST"])


def rotate_token(response: Response) -> None:
    """A new CSRF token after login, as Django's ``login()`` does: pages before it carry a stale token."""
    response.set_cookie(COOKIE, secrets.token_hex(16), max_age=_COOKIE_MAX_AGE_S, path="/", samesite="lax")


def _referer_problem(request: Request) -> str | None:
    """Django's Referer check, done only for a request seen as HTTPS."""
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"
    if not secure:
        return None
    referer = request.headers.get("referer")
    if referer is None:
        return "Referer checking failed - no Referer."
    parts = urlsplit(referer)
    if not parts.scheme or not parts.netloc:
        return "Referer checking failed - Referer is malformed."
    if parts.scheme != "https":
        return "Referer checking failed - Referer is insecure while host is secure."
    host = request.headers.get("host", "").split(":")[0].lower()
    if (parts.hostname or "").lower() != host:
        return f"Referer checking failed - {referer} does not match any trusted origins."
    return None


async def read_form(request: Request) -> Form:
    """The URL-encoded body as a dict (first value of each field); empty for any other body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        return {}
    form: Form = {}
    for name, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
        form.setdefault(name, value)
    return form


def _forbidden(reason: str) -> HTMLResponse:
    return HTMLResponse(_FORBIDDEN_PAGE.format(reason=reason), status_code=403)
