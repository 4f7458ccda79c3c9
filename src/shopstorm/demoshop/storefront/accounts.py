"""Storefront customers: sign-up checks, password hashing, and the ``customers`` table.

A customer is keyed by the lower-cased email, so a second sign-up that differs only in case is refused, also
when two race (the ``INSERT`` does nothing on a conflict and the caller sees it). Passwords are stored as
Django stores them, ``pbkdf2_sha256$<iterations>$<salt>$<hash>``; hashing costs tens of milliseconds of CPU,
so it runs in a worker thread and never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import time

from sqlalchemy import Column, Float, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from shopstorm.demoshop.core.store import Store, metadata

MIN_PASSWORD_LENGTH = 8
MAX_FIELD_LENGTH = 254
_ITERATIONS = 100_000
_ALGORITHM = "pbkdf2_sha256"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")

DUPLICATE_EMAIL = "A user with this email already exists."
INVALID_EMAIL = "Enter a valid email address."
BAD_LOGIN = "Please enter a correct email and password. Note that both fields may be case-sensitive."

customers = Table(
    "customers",
    metadata,
    Column("email", String, primary_key=True),
    Column("password_hash", String, nullable=False),
    Column("created_at", Float, nullable=False),
)


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


def is_valid_email(email: str) -> bool:
    return len(email) <= MAX_FIELD_LENGTH and _EMAIL.fullmatch(email) is not None


def signup_errors(email: str, password: str) -> list[str]:
    """What is wrong with a sign-up form, in Django's words; empty when it may be tried."""
    errors = []
    if not email:
        errors.append("Email: This field is required.")
    elif not is_valid_email(email):
        errors.append(INVALID_EMAIL)
    if not password:
        errors.append("Password: This field is required.")
    elif len(password) < MIN_PASSWORD_LENGTH:
        errors.append(f"This password is too short. It must contain at least {MIN_PASSWORD_LENGTH} characters.")
    elif len(password) > MAX_FIELD_LENGTH:
        errors.append(f"The password may have at most {MAX_FIELD_LENGTH} characters.")
    return errors


async def sign_up(store: Store, email: str, password: str) -> bool:
    """Create the customer; False when the (normalised) email is already taken."""
    password_hash = await asyncio.to_thread(hash_password, password)
    dialect_insert = sqlite.insert if store.is_sqlite else postgresql.insert
    new_customer = dialect_insert(customers).values(email=email, password_hash=password_hash, created_at=time.time())
    async with store.write() as conn:
        created = await conn.scalar(
            new_customer.on_conflict_do_nothing(index_elements=["email"]).returning(customers.c.email)
        )
    return created is not None


async def authenticate(store: Store, email: str, password: str) -> bool:
    """Whether a customer with this email has this password."""
    async with store.read() as conn:
        password_hash = await conn.scalar(select(customers.c.password_hash).where(customers.c.email == email))
    if password_hash is None:
        return False
    return await asyncio.to_thread(verify_password, password, password_hash)


def hash_password(password: str) -> str:
    salt = secrets.token_hex(11)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), _ITERATIONS)
    return f"{_ALGORITHM}${_ITERATIONS}${salt}${base64.b64encode(digest).decode()}"


def verify_password(password: str, password_hash: str) -> bool:
    algorithm, iterations, salt, expected = password_hash.split("$", 3)
    if algorithm != _ALGORITHM:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    return hmac.compare_digest(base64.b64encode(digest).decode(), expected)
