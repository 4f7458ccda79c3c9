"""The storefront's HTML pages: Jinja2 templates compiled once at start-up, and the responses built from them.

Templates live in ``shopstorm/demoshop/storefront/templates`` (package data) and are all loaded and compiled
when the storefront is built, so a request only renders. Every template extends ``base.html`` and receives the request's
CSRF token as ``csrf_token`` (see :mod:`shopstorm.demoshop.storefront.csrf`).
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse


class Pages:
    """Every storefront template, compiled, and the render call handlers use."""

    def __init__(self, **shown_everywhere: Any) -> None:
        """``shown_everywhere``: what every page's layout shows (the navigation's categories)."""
        environment = Environment(
            loader=PackageLoader("shopstorm.demoshop.storefront", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        environment.globals.update(shown_everywhere)
        self._templates: dict[str, Template] = {
            name: environment.get_template(name) for name in environment.list_templates(extensions=["html"])
        }

    def render(self, request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """The page ``name`` rendered with ``context`` and the request's CSRF token."""
        csrf_token = getattr(request.state, "csrf_token", "")
        html = self._templates[name].render(csrf_token=csrf_token, **context)
        return HTMLResponse(html, status_code=status_code)

    def not_found(self, request: Request, what: str) -> HTMLResponse:
        """The storefront's 404 page for an unknown category, product or order."""
        return self.render(request, "not_found.html", status_code=404, what=what)


def redirect(url: str) -> RedirectResponse:
    """A 302 to a path of the shop (Django's redirect, not Starlette's default 307)."""
    return RedirectResponse(url, status_code=302)
