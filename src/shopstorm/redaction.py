"""Passwords inside URLs (``http://user:password@shop``), masked wherever shopstorm writes text.

A shop behind basic auth may be given as ``--host http://user:password@shop``; the password must still never reach
summary.json, the terminal, JUnit XML, Locust's HTML report or an error line. :func:`mask_url_credentials` keeps the
user name and replaces the password with ``***`` in every URL found in a text.
"""

from __future__ import annotations

import re
from typing import Any

# The password runs to the last "@" before the host: an unescaped "@" in it is taken as urlsplit takes it.
_URL_PASSWORD = re.compile(r"(?P<start>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*):[^/\s]*@")


def mask_url_credentials(text: str) -> str:
    """``http://user:s3cret@shop/x`` → ``http://user:***@shop/x``, for every URL in ``text``."""
    return _URL_PASSWORD.sub(r"\g<start>:***@", text)


def mask_url_credentials_in(data: Any) -> Any:
    """``data`` (JSON-like: dicts, lists, strings, numbers) with every string's URL passwords masked."""
    if isinstance(data, str):
        return mask_url_credentials(data)
    if isinstance(data, dict):
        return {mask_url_credentials_in(key): mask_url_credentials_in(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [mask_url_credentials_in(item) for item in data]
    return data
