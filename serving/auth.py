"""API-key authentication as a FastAPI dependency: `Authorization: Bearer KEY` or `X-API-Key: KEY`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from serving.errors import ApiError
from serving.state import StateDep

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>` (`xinfang apikey create`)")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the same key in `X-API-Key`")


async def require_api_key(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    header_key: Annotated[str | None, Depends(api_key_header)],
) -> str:
    """The label of the caller's key; 401 without a key, 403 with a wrong one ('anonymous' with auth off)."""
    if state.keyring is None:
        return "anonymous"
    key = credentials.credentials if credentials is not None else header_key
    if not key:
        raise ApiError(401, "missing_api_key", "an API key is required: 'Authorization: Bearer <key>' or "
                       "'X-API-Key: <key>'", headers={"WWW-Authenticate": "Bearer"})
    label = state.keyring.check(key)
    if label is None:
        raise ApiError(403, "invalid_api_key", "the API key is not valid")
    request.state.api_key_label = label
    return label
