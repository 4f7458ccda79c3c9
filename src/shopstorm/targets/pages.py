"""Server-rendered shops: pages, forms and CSRF tokens, driven through one shopper's Locust session.

A :class:`Browser` gets pages and submits forms the way a person's browser would: hidden inputs (CSRF tokens such
as Django's ``csrfmiddlewaretoken``, Rails' ``authenticity_token``, Laravel's ``_token``) are carried over because
every input of the form is sent; cookies persist in the shopper's session, so a ``csrftoken`` rotated at login is
the one sent next; an AJAX post sends the ``csrftoken`` cookie back as ``X-CSRFToken``; every POST carries a
``Referer``, as Django's CSRF check wants over HTTPS; redirects are followed one hop at a time, each hop named in
the statistics by the target's URL templates (``/products/[slug]/``). Pages are parsed with lxml, only when a
journey looks at them.

A page without the expected form, field or element fails that journey step with a message naming the page and
what was missing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import lxml.html
from lxml.cssselect import CSSSelector

from shopstorm.replies import JourneyFailed, Reply, classify

CSRF_FIELDS = ("csrfmiddlewaretoken", "authenticity_token", "_token")
CSRF_COOKIE = "csrftoken"
MAX_REDIRECTS = 5

_selectors: dict[str, CSSSelector] = {}


def _select(tree: Any, selector: str) -> list[Any]:
    compiled = _selectors.get(selector)
    if compiled is None:
        compiled = _selectors[selector] = CSSSelector(selector)
    return compiled(tree)


@dataclass
class Form:
    """A form as the page rendered it: where it goes and every field with its current value."""

    page: str  # the page's path, for messages
    action: str  # absolute URL
    method: str
    fields: dict[str, str] = field(default_factory=dict)

    def filled(self, values: dict[str, Any]) -> dict[str, str]:
        return {**self.fields, **{name: str(value) for name, value in values.items()}}


class Page:
    """One HTML page; parsed on first use."""

    def __init__(self, url: str, status: int, text: str) -> None:
        self.url, self.status, self.text = url, status, text
        self._tree: Any = None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def tree(self) -> Any:
        if self._tree is None:
            try:
                self._tree = lxml.html.document_fromstring(self.text or "<html></html>")
            except (ValueError, lxml.etree.ParserError) as error:
                raise JourneyFailed(f"page {self.path} is not HTML ({type(error).__name__})") from None
        return self._tree

    def all(self, selector: str) -> list[Any]:
        return _select(self.tree, selector)

    def one(self, selector: str, what: str) -> Any:
        found = self.all(selector)
        if not found:
            raise JourneyFailed(f"page {self.path} has no {what} ({selector})")
        return found[0]

    def attribute(self, selector: str, name: str, what: str) -> str:
        value = self.one(selector, what).get(name)
        if value is None:
            raise JourneyFailed(f"page {self.path}: {what} ({selector}) has no {name} attribute")
        return value

    def links(self, selector: str) -> list[str]:
        """Absolute URLs of the matching links; root-relative ones (the usual case) without urljoin's cost."""
        parts = urlsplit(self.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        hrefs = (a.get("href") for a in self.all(selector))
        return [origin + h if h[0] == "/" and h[1:2] != "/" else urljoin(self.url, h) for h in hrefs if h]

    def form(self, selector: str, *, csrf: bool = True) -> Form:
        """The form matching a CSS selector (``#signup``, ``form.login``) or, failing that, its name or id."""
        found = self.all(selector) or self.all(f"form[name={selector!r}]") or self.all(f"form[id={selector!r}]")
        if not found:
            raise JourneyFailed(f"page {self.path} has no form {selector}")
        element = found[0]
        fields: dict[str, str] = {}
        for control in element.iter("input", "select", "textarea"):
            name = control.get("name")
            if not name or control.get("disabled") is not None:
                continue
            kind = (control.get("type") or "text").lower()
            if control.tag == "select":
                options = control.findall(".//option")
                chosen = [o for o in options if o.get("selected") is not None] or options[:1]
                fields[name] = (chosen[0].get("value") or chosen[0].text or "") if chosen else ""
            elif kind in ("checkbox", "radio"):
                if control.get("checked") is not None or (kind == "radio" and name not in fields):
                    fields[name] = control.get("value") or "on"
            elif kind not in ("submit", "button", "image", "reset", "file"):
                fields[name] = control.get("value") or (control.text or "" if control.tag == "textarea" else "")
        if csrf and not any(name in fields for name in CSRF_FIELDS):
            raise JourneyFailed(f"page {self.path}: form {selector} has no CSRF token ({', '.join(CSRF_FIELDS)})")
        action = urljoin(self.url, element.get("action") or self.url)
        return Form(self.path, action, (element.get("method") or "get").lower(), fields)


@dataclass
class Browser:
    """One shopper's browser over its Locust session. ``name_for`` turns a URL path into its statistics name;
    ``pause`` is the shopper's form-filling pause (reading and typing), called before each form is sent."""

    http: Any
    base_url: str
    name_for: Callable[[str], str]
    pause: Callable[[], None] = lambda: None

    def get(self, path: str, *, step: str, expect: Sequence[int] = (200,)) -> Page:
        return self._request("GET", urljoin(self.base_url + "/", path.lstrip("/")), step=step, expect=expect)

    def submit(self, form: Form, values: dict[str, Any] | None = None, *, step: str,
               expect: Sequence[int] = (200,)) -> Page:  # fmt: skip
        """Send the form (all its fields, CSRF token included, with ``values`` filled in) and follow redirects."""
        self.pause()
        body = urlencode(form.filled(values or {}))
        if form.method == "get":
            return self._request("GET", f"{form.action}?{body}", step=step, expect=expect)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Referer": urljoin(self.base_url, form.page)}
        return self._request("POST", form.action, step=step, expect=expect, data=body, headers=headers)

    def ajax(self, path: str, data: dict[str, Any], *, step: str, referer: str = "/") -> Reply:
        """An AJAX form post answered with JSON, the CSRF cookie sent back as ``X-CSRFToken`` and the page it is
        sent from as ``Referer`` (Django refuses an HTTPS POST without one, AJAX or not)."""
        url = urljoin(self.base_url + "/", path.lstrip("/"))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Requested-With": "XMLHttpRequest",
            "X-CSRFToken": self.cookie(CSRF_COOKIE) or "",
            "Referer": urljoin(self.base_url + "/", referer.lstrip("/")),
        }
        with self.http.request("POST", url, name=self.name_for(urlsplit(url).path), data=urlencode(data),
                               headers=headers, catch_response=True) as response:  # fmt: skip
            status = response.status_code or 0
            reply = classify(status, response.text if status else None, None if status else response.error)
            if reply.outcome == "ok":
                response.success()
                return reply
            problem = f"{step}: {reply.detail}" if reply.outcome == "unknown" else f"{step} refused ({reply.detail})"
            response.failure(problem)
        raise JourneyFailed(problem, reply)

    def cookie(self, name: str) -> str | None:
        for cookie in getattr(self.http, "cookiejar", ()):
            if cookie.name == name:
                return cookie.value
        return None

    def _request(self, method: str, url: str, *, step: str, expect: Sequence[int], data: str | None = None,
                 headers: dict[str, str] | None = None) -> Page:  # fmt: skip
        for _ in range(MAX_REDIRECTS + 1):
            path = urlsplit(url).path
            with self.http.request(method, url, name=self.name_for(path), data=data, headers=headers,
                                   allow_redirects=False, catch_response=True) as response:  # fmt: skip
                status = response.status_code or 0
                location = response.headers.get("Location") if status in (301, 302, 303, 307, 308) else None
                if location:
                    response.success()
                elif status in expect:
                    response.success()
                    return Page(url, status, response.text or "")
                else:
                    problem = _problem(step, status, response)
                    response.failure(problem)
                    raise JourneyFailed(problem, Reply(status, "unknown" if status in (0,) or status >= 500
                                                       else "refused", None, f"HTTP {status}"))  # fmt: skip
            # a redirect: the browser follows with a GET (303 semantics for 301/302/303, as browsers do)
            url = urljoin(url, location)
            if status in (301, 302, 303):
                method, data, headers = "GET", None, None
        raise JourneyFailed(f"{step}: more than {MAX_REDIRECTS} redirects from {urlsplit(url).path}")


def _problem(step: str, status: int, response: Any) -> str:
    if status == 0:
        return f"{step}: connection error: {type(getattr(response, 'error', None)).__name__}"
    if status == 403 and "CSRF" in (response.text or ""):
        return f"{step} refused: CSRF verification failed (HTTP 403)"
    if status == 401:
        return f"{step} refused: HTTP 401, the shop wants credentials (--basic-auth)"
    return f"{step} refused (HTTP {status})" if status < 500 else f"{step}: HTTP {status}"


def path_templates(patterns: Sequence[tuple[str, str]]) -> Callable[[str], str]:
    """``[(regex, name)]`` → a function naming a path by the first pattern that matches it (else the path)."""
    compiled = [(re.compile(pattern), name) for pattern, name in patterns]

    def name_for(path: str) -> str:
        for pattern, name in compiled:
            if pattern.fullmatch(path):
                return name
        return path

    return name_for
