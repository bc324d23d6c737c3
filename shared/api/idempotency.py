"""`Idempotency-Key` on POST: the same key and body within 24 h replays the first accepted answer.

The stored fingerprint must not reveal the admin password, so the password enters it only through a
salted, memory-hard hash (scrypt), and the rest of the body through SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

KEY_LIFETIME = timedelta(hours=24)
# How long an unfinished claim holds its key: a request takes well under this (its handler never waits on
# ARM), so a claim older than this belongs to a request that died.
CLAIM_LEASE = timedelta(seconds=60)
MAX_KEY_LENGTH = 200


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(16)


def fingerprint(body: dict[str, Any], salt: str) -> str:
    body = dict(body)
    password = body.pop("admin_password", None)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    if password is not None:
        secret = hashlib.scrypt(str(password).encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1)
        digest += ":" + secret.hex()
    return digest


def same_request(stored: str, body: dict[str, Any], salt: str) -> bool:
    return hmac.compare_digest(stored, fingerprint(body, salt))


def expired(created_at: datetime, now: datetime) -> bool:
    return now - created_at >= KEY_LIFETIME


def claim_lapsed(claimed_at: datetime, now: datetime) -> bool:
    return now - claimed_at >= CLAIM_LEASE


def retry_after(claimed_at: datetime, now: datetime) -> int:
    """Seconds until an unfinished claim lapses (at least 1)."""
    return max(1, int((claimed_at + CLAIM_LEASE - now).total_seconds()) + 1)
