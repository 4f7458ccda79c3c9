"""Webhook signatures against vectors published by the schemes' own libraries, then every way a delivery can be
wrong: each gives a short reason, none an exception."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from shopstorm.targets.signing import new_webhook_secret, sign_stripe_event, verify_standard_webhook

# The Standard Webhooks reference vector: test "sign function works" in
# github.com/standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts
# (also test_sign_function in libraries/python/tests/test_webhooks.py).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

# A Stripe-Signature vector from Stripe's .NET library: github.com/stripe/stripe-dotnet,
# src/StripeTests/Services/Events/EventUtilityTest.cs (timestamp, secret and v1) signing the fixture
# src/StripeTests/Resources/event_test_signature.json (LF line ends, final newline), reproduced here byte for byte.
STRIPE_SECRET = "webhook_secret"
STRIPE_TIMESTAMP = 1533204620
STRIPE_V1 = "2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7"
STRIPE_PAYLOAD = """{
  "id": "evt_123",
  "object": "event",
  "account": "acct_123",
  "api_version": "2017-05-25",
  "created": 1533204620,
  "data": {
    "object": {
      "id": "cus_123",
      "object": "customer",
      "created": 123456789,
      "email": "test@stripe.com",
      "livemode": false,
      "metadata": {}
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {
    "id": "req_123",
    "idempotency_key": "idempotency-key-123"
  },
  "type": "customer.created"
}
"""

REASONS = {
    "missing headers",
    "malformed timestamp header",
    "timestamp outside tolerance",
    "body is not UTF-8",
    "malformed signature header",
    "no matching signature",
}


def spec_headers(signature: str = SPEC_SIGNATURE, timestamp: int = SPEC_TIMESTAMP) -> dict[str, str]:
    return {"webhook-id": SPEC_ID, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def signed(secret: str, body: bytes, webhook_id: str = "msg_1", timestamp: int | None = None) -> dict[str, str]:
    """Headers as a Standard Webhooks sender makes them, signed by the library itself."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(timestamp, UTC), body.decode())
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_the_standard_webhooks_reference_vector_verifies_at_its_own_time():
    assert verify_standard_webhook(SPEC_SECRET, SPEC_BODY, spec_headers(), now=SPEC_TIMESTAMP) is None


def test_the_reference_vector_holds_for_five_minutes_either_side_and_not_a_second_more():
    for skew in (-300, 300):
        assert verify_standard_webhook(SPEC_SECRET, SPEC_BODY, spec_headers(), now=SPEC_TIMESTAMP + skew) is None
    for skew in (-301, 301):
        reason = verify_standard_webhook(SPEC_SECRET, SPEC_BODY, spec_headers(), now=SPEC_TIMESTAMP + skew)
        assert reason == "timestamp outside tolerance"


def test_without_now_the_clock_is_the_real_one():
    assert verify_standard_webhook(SPEC_SECRET, SPEC_BODY, spec_headers()) == "timestamp outside tolerance"
    assert verify_standard_webhook(SPEC_SECRET, SPEC_BODY, signed(SPEC_SECRET, SPEC_BODY)) is None


def test_header_names_are_case_insensitive():
    headers = {name.title(): value for name, value in spec_headers().items()}  # Webhook-Id, as HTTP stacks write it
    assert verify_standard_webhook(SPEC_SECRET, SPEC_BODY, headers, now=SPEC_TIMESTAMP) is None


def test_a_tampered_body_does_not_verify():
    tampered = b'{"test": 2432232315}'
    assert verify_standard_webhook(SPEC_SECRET, tampered, spec_headers(), now=SPEC_TIMESTAMP) == "no matching signature"


def test_a_tampered_id_or_timestamp_does_not_verify():
    headers = spec_headers() | {"webhook-id": "msg_other"}
    assert verify_standard_webhook(SPEC_SECRET, SPEC_BODY, headers, now=SPEC_TIMESTAMP) == "no matching signature"
    moved = spec_headers(timestamp=SPEC_TIMESTAMP + 1)
    assert verify_standard_webhook(SPEC_SECRET, SPEC_BODY, moved, now=SPEC_TIMESTAMP) == "no matching signature"


def test_another_secret_does_not_verify():
    reason = verify_standard_webhook(new_webhook_secret(), SPEC_BODY, spec_headers(), now=SPEC_TIMESTAMP)
    assert reason == "no matching signature"


def test_one_matching_signature_among_several_is_enough():
    # As the spec's own multi-signature test: unknown versions and stale v1 signatures around the right one.
    other = "Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
    header = f"v1,{other} v2,{other} {SPEC_SIGNATURE} v1,{other}"
    assert verify_standard_webhook(SPEC_SECRET, SPEC_BODY, spec_headers(header), now=SPEC_TIMESTAMP) is None
    assert (
        verify_standard_webhook(SPEC_SECRET, SPEC_BODY, spec_headers(f"garbage {SPEC_SIGNATURE}"), now=SPEC_TIMESTAMP)
        is None
    )
    none_right = spec_headers(f"v1,{other} v2,{SPEC_SIGNATURE.removeprefix('v1,')}")
    assert verify_standard_webhook(SPEC_SECRET, SPEC_BODY, none_right, now=SPEC_TIMESTAMP) == "no matching signature"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_or_empty_header_is_named_as_such(missing):
    headers = spec_headers()
    del headers[missing]
    assert verify_standard_webhook(SPEC_SECRET, SPEC_BODY, headers, now=SPEC_TIMESTAMP) == "missing headers"
    assert verify_standard_webhook(SPEC_SECRET, SPEC_BODY, headers | {missing: ""}, now=SPEC_TIMESTAMP) == (
        "missing headers"
    )


@pytest.mark.parametrize(
    "timestamp",
    [
        "hello",
        "1614265330.0",
        "1e9",
        "-1614265330",
        " 1614265330",
        "+1614265330",
        "1_614_265_330",
        "١٦١٤٢٦٥٣٣٠",
        "9" * 5000,
    ],
)
def test_a_garbage_timestamp_is_a_reason_not_an_exception(timestamp):
    headers = spec_headers() | {"webhook-timestamp": timestamp}
    assert verify_standard_webhook(SPEC_SECRET, SPEC_BODY, headers, now=SPEC_TIMESTAMP) == "malformed timestamp header"


@pytest.mark.parametrize(
    "signature",
    ["garbage", "v1", "v1,", ",", ",abc", "v1,é", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OÉ=", "\x00\x01"],
)
def test_a_garbage_signature_header_is_a_reason_not_an_exception(signature):
    headers = spec_headers(signature)
    assert verify_standard_webhook(SPEC_SECRET, SPEC_BODY, headers, now=SPEC_TIMESTAMP) == "malformed signature header"


@pytest.mark.parametrize("signature", ["v1,dawfeoifkpqwoekfpqoekf", "v1,!!!!", "v1,AAAA", SPEC_SIGNATURE[:8]])
def test_a_well_formed_but_wrong_signature_does_not_match(signature):
    headers = spec_headers(signature)
    assert verify_standard_webhook(SPEC_SECRET, SPEC_BODY, headers, now=SPEC_TIMESTAMP) == "no matching signature"


@pytest.mark.parametrize("body", [b"\xff\xfe garbage", b"\x80", b'{"a": "\xed\xa0\x80"}'])
def test_a_body_that_is_not_utf8_is_a_reason_not_an_exception(body):
    assert verify_standard_webhook(SPEC_SECRET, body, spec_headers(), now=SPEC_TIMESTAMP) == "body is not UTF-8"


def test_every_reason_is_one_of_the_documented_few():
    cases = [
        ({}, SPEC_BODY),
        (spec_headers() | {"webhook-timestamp": "x"}, SPEC_BODY),
        (spec_headers(), SPEC_BODY),  # real clock: stale
        (spec_headers("x"), b"\xff"),
    ]
    for headers, body in cases:
        assert verify_standard_webhook(SPEC_SECRET, body, headers) in REASONS


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_a", "whsec_!!!!"])
def test_a_secret_that_is_not_whsec_base64_is_a_usage_error_of_the_caller(secret):
    with pytest.raises(ValueError, match="whsec_ followed by base64"):
        verify_standard_webhook(secret, SPEC_BODY, spec_headers(), now=SPEC_TIMESTAMP)


def test_new_secrets_are_whsec_and_24_random_bytes_that_sign_and_verify():
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24
    assert new_webhook_secret() != secret
    body = b'{"type": "order.paid"}'
    assert verify_standard_webhook(secret, body, signed(secret, body)) is None


def test_the_stripe_dotnet_vector_is_reproduced():
    header = sign_stripe_event(STRIPE_PAYLOAD, STRIPE_SECRET, STRIPE_TIMESTAMP)
    assert header == f"t={STRIPE_TIMESTAMP},v1={STRIPE_V1}"


def test_a_stripe_signature_is_over_the_exact_payload_and_secret():
    header = sign_stripe_event(STRIPE_PAYLOAD, STRIPE_SECRET, STRIPE_TIMESTAMP)
    assert sign_stripe_event(STRIPE_PAYLOAD.rstrip("\n"), STRIPE_SECRET, STRIPE_TIMESTAMP) != header
    assert sign_stripe_event(STRIPE_PAYLOAD, "whsec_other", STRIPE_TIMESTAMP) != header
    assert sign_stripe_event(STRIPE_PAYLOAD, STRIPE_SECRET, STRIPE_TIMESTAMP + 1) != header


def test_a_stripe_signature_without_a_timestamp_is_made_now_and_stripe_accepts_it():
    import stripe

    before = int(time.time())
    header = sign_stripe_event('{"id": "evt_1"}', "whsec_test_secret")
    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert before <= timestamp <= time.time()
    assert stripe.WebhookSignature.verify_header('{"id": "evt_1"}', header, "whsec_test_secret", tolerance=300)
