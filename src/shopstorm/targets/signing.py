"""Webhook signatures, both ways: the Stripe-Signature header on the provider events shopstorm sends to a shop, and
the Standard Webhooks signature on the events a shop sends back to shopstorm's receiver.

The key of that signature depends on the platform (:data:`SECRET_FORMATS`). The Standard Webhooks libraries key it
with the base64 after ``whsec_``. Polar does not: its sender (server/polar/webhook/tasks.py) builds
``StandardWebhook(base64(secret.encode()))``, so its key is the UTF-8 bytes of the whole secret string as Polar
shows it, ``whsec_`` included.

The two schemes are easy to mix up. Stripe signs ``"{t}.{body}"`` keyed with the whole secret string (``whsec_``
included) and writes the HMAC-SHA256 in hex: ``t=<unix>,v1=<hex>``. Standard Webhooks signs ``"{id}.{t}.{body}"``
keyed with the base64-decoded secret and writes it in base64 after a version tag: ``v1,<base64>``, several of them
space-separated while a secret rotates. The ``stripe`` and ``standardwebhooks`` libraries compute the HMACs; this
module adds what a receiver under load needs: a verdict as a short, id-free reason, never an exception.
"""

from __future__ import annotations

import base64
import functools
import hmac
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

SECRET_FORMATS = ("polar", "standard")  # how a webhook secret keys the signature: see the module's docstring
TOLERANCE = 5 * 60  # seconds either side of the receiver's clock, as the Standard Webhooks spec sets it
_TIMESTAMP_DIGITS = 12  # far beyond any plausible Unix time; longer digit strings are garbage, not timestamps


def sign_stripe_event(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload``, signed now or at ``timestamp`` (Unix seconds)."""
    import stripe  # takes ~200 ms: only processes that send provider events pay for it

    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)


def verify_standard_webhook(
    secret: str, body: bytes, headers: Mapping[str, str], *, now: float | None = None, secret_format: str = "standard"
) -> str | None:
    """``None`` when ``body`` carries a valid Standard Webhooks signature, else why not, in a few words:
    "missing headers", "malformed timestamp header", "timestamp outside tolerance", "body is not UTF-8",
    "malformed signature header" or "no matching signature".

    Header names are matched case-insensitively; ``now`` (Unix seconds) replaces the clock, for tests.
    ``secret_format`` is ``polar`` (the key is the secret string's UTF-8 bytes) or ``standard`` (the base64 after
    ``whsec_``). Nothing the request holds makes this raise; an empty ``secret``, or a ``standard`` one that is not
    ``whsec_<base64>``, raises ValueError.
    """
    webhook = _webhook(secret, secret_format)
    lowered = {name.lower(): value for name, value in headers.items()}
    webhook_id = lowered.get("webhook-id")
    timestamp_text = lowered.get("webhook-timestamp")
    signature_header = lowered.get("webhook-signature")
    if not (webhook_id and timestamp_text and signature_header):
        return "missing headers"
    # The spec's timestamp is integer seconds; int() alone would also take " 12", "+12" and "1_2".
    if not (timestamp_text.isascii() and timestamp_text.isdigit() and len(timestamp_text) <= _TIMESTAMP_DIGITS):
        return "malformed timestamp header"
    timestamp = int(timestamp_text)
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE:
        return "timestamp outside tolerance"
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return "body is not UTF-8"
    # The library's own verify() checks the time against datetime.now() and raises ValueError or IndexError on
    # some garbage; its sign() gives the one expected signature, which each v1 entry is compared with.
    expected = webhook.sign(webhook_id, datetime.fromtimestamp(timestamp, UTC), text).removeprefix("v1,")
    malformed = False
    for entry in signature_header.split():
        version, comma, signature = entry.partition(",")
        if not (version and comma and signature and signature.isascii()):
            malformed = True
        elif version == "v1" and hmac.compare_digest(signature, expected):
            return None
    return "malformed signature header" if malformed else "no matching signature"


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` and the base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


@functools.lru_cache(maxsize=8)
def _webhook(secret: str, secret_format: str) -> Webhook:
    """The library's signer for ``secret`` read as ``secret_format``, decoded once rather than on every delivery."""
    if secret_format not in SECRET_FORMATS:
        raise ValueError(f"a webhook secret format is one of {', '.join(SECRET_FORMATS)}, not {secret_format!r}")
    if secret_format == "polar":
        if not secret:
            raise ValueError("a webhook secret cannot be empty")
        secret = base64.b64encode(secret.encode()).decode("ascii")  # as Polar's sender hands it to the library
    try:
        return Webhook(secret)
    except (ValueError, EmptyWebhookSecretError) as error:  # binascii.Error is a ValueError
        raise ValueError(f"a webhook secret must be whsec_ followed by base64 ({error})") from None
