"""Who is calling: personal API tokens (stored only as hashes) and, when a setting turns it on, Easy Auth."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode
from pydantic import BaseModel

from shared.azure.tables import Store
from shared.core.models import User, VmRecord

TOKEN_PREFIX = "dsvm_"  # noqa: S105 - a marker, not a secret
TOKENS_PARTITION = "token"
# last_used is written at most this often, so a busy token does not turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)


# A VM's activity agent holds a token of its own: good for nothing but reporting that VM's activity.
AGENT_TOKEN_PREFIX = "dsvma_"  # noqa: S105 - a marker, not a secret


def new_agent_token() -> tuple[str, str]:
    """(token, its hash): the token goes to the VM, only the hash is kept (in the VM's record)."""
    token = AGENT_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def agent_may_report(record: VmRecord, token: str) -> bool:
    """Whether `token` is this VM's agent token (compared in constant time)."""
    return record.agent_token_hash is not None and hmac.compare_digest(record.agent_token_hash, token_hash(token))


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a plain SHA-256 is enough (no salt or stretching needed).
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    store: Store, user: str, is_admin: bool, expires_in: timedelta | None = None, note: str = ""
) -> tuple[str, str]:
    """Create a token; returns (token id, token). The token itself is never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = uuid.uuid4().hex[:12]
    now = datetime.now(UTC)
    entity: dict[str, object] = {
        "PartitionKey": TOKENS_PARTITION,
        "RowKey": token_hash(token),
        "id": token_id,
        "user": user,
        "is_admin": is_admin,
        "created_at": now,
        "revoked": False,
        "note": note,
    }
    if expires_in is not None:
        entity["expires_at"] = now + expires_in
    store.tokens.create_entity(entity)
    return token_id, token


def resolve_token(store: Store, token: str, now: datetime) -> User | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    digest = token_hash(token)
    try:
        entity = store.tokens.get_entity(TOKENS_PARTITION, digest)
    except ResourceNotFoundError:
        return None
    if not hmac.compare_digest(entity["RowKey"], digest):
        return None
    if entity.get("revoked"):
        return None
    expires_at = entity.get("expires_at")
    if expires_at is not None and expires_at <= now:
        return None
    last_used = entity.get("last_used")
    if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
        store.tokens.update_entity(
            {"PartitionKey": TOKENS_PARTITION, "RowKey": digest, "last_used": now}, mode=UpdateMode.MERGE
        )
    return User(name=entity["user"], is_admin=bool(entity.get("is_admin")))


def easy_auth_user(header: str, admin_role: str) -> User | None:
    """The user in an `X-MS-CLIENT-PRINCIPAL` header (base64 JSON set by App Service Authentication)."""
    try:
        principal = json.loads(base64.b64decode(header, validate=False))
    except (binascii.Error, ValueError):
        return None
    claims = principal.get("claims") or []
    name_typ = principal.get("name_typ")
    role_typ = principal.get("role_typ") or "roles"
    name = None
    roles = set()
    for claim in claims:
        typ, val = claim.get("typ"), claim.get("val")
        if typ in (role_typ, "roles"):
            roles.add(val)
        elif name is None and typ in (name_typ, "preferred_username", "upn", "email"):
            name = val
    if not name:
        return None
    return User(name=str(name).lower(), is_admin=admin_role in roles)


class TokenInfo(BaseModel):
    """A token as admins see it: never the token or its hash."""

    id: str
    user: str
    is_admin: bool
    note: str = ""
    created_at: datetime
    expires_at: datetime | None = None
    last_used: datetime | None = None
    revoked: bool = False


def list_tokens(store: Store, user: str | None = None) -> list[TokenInfo]:
    query = f"PartitionKey eq '{TOKENS_PARTITION}'"
    if user is not None:
        query += " and user eq '{}'".format(user.replace("'", "''"))
    return [TokenInfo.model_validate(dict(entity)) for entity in store.tokens.query_entities(query)]


def revoke_token(store: Store, token_id: str) -> bool:
    """Revoke at once (the row stays, for the audit trail); False if there is no such token."""
    query = "PartitionKey eq '{}' and id eq '{}'".format(TOKENS_PARTITION, token_id.replace("'", "''"))
    found = False
    for entity in store.tokens.query_entities(query, select=["PartitionKey", "RowKey"]):
        store.tokens.update_entity(
            {"PartitionKey": entity["PartitionKey"], "RowKey": entity["RowKey"], "revoked": True},
            mode=UpdateMode.MERGE,
        )
        found = True
    return found
