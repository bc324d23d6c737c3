"""`/api/tokens`: admins issue, list and revoke personal API tokens (stored only as hashes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from shared.api.deps import Admin, Svc
from shared.api.errors import ApiRoute, errors
from shared.auth import TokenInfo, issue_token, list_tokens, revoke_token
from shared.core.models import worded
from shared.core.problems import Problem

router = APIRouter(prefix="/api/tokens", tags=["admin"], route_class=ApiRoute)


class NewToken(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"user": "ana@example.com", "expires_in_days": 90}]}
    )

    user: Annotated[str, worded("a user name or e-mail address without spaces or any of / \\ # ? '")] = Field(
        min_length=3, max_length=256, pattern=r"^[^\s/\\#?']+$", description="Who the token is for"
    )
    admin: bool = Field(default=False, description="Whether the token makes its holder an admin")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="None: the token never expires")
    note: str = Field(default="", max_length=200, description="What the token is for, for whoever lists tokens")


class IssuedToken(TokenInfo):
    token: str = Field(description="Shown once; store it in a secret manager")


class TokenList(BaseModel):
    value: list[TokenInfo] = Field(description="Every token's metadata")


@router.post("", status_code=201, summary="Issue an API token", operation_id="createToken")
def create_token(body: NewToken, admin: Admin, svc: Svc) -> IssuedToken:
    """Issue a personal API token. The token is shown in this answer only; it is stored as a hash."""
    expires = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    token_id, token = issue_token(svc.store, body.user.lower(), body.admin, expires, body.note)
    info = next(t for t in list_tokens(svc.store, body.user.lower()) if t.id == token_id)
    return IssuedToken(**info.model_dump(), token=token)


@router.get("", summary="List API tokens", operation_id="listTokens")
def get_tokens(admin: Admin, svc: Svc, user: Annotated[str | None, Query(max_length=256)] = None) -> TokenList:
    """Every token's metadata (never the token itself)."""
    return TokenList(value=list_tokens(svc.store, user))


@router.delete(
    "/{token_id}", status_code=204, summary="Revoke an API token", operation_id="revokeToken", responses=errors(404)
)
def delete_token(token_id: str, admin: Admin, svc: Svc) -> Response:
    """Revoke a token at once."""
    if not revoke_token(svc.store, token_id):
        raise Problem(404, "Not Found", f"no token with id '{token_id}'")
    return Response(status_code=204)
