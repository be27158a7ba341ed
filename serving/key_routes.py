"""Managing API keys over the API (role `admin`): list, create (the key is shown once), revoke."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from xinfang.errors import XinfangError
from xinfang.serving.api_models import ErrorBody
from xinfang.serving.auth import require_api_key
from xinfang.serving.errors import ApiError
from xinfang.serving.keys import KeyEntry, Role, create_key, read_keys, revoke_key
from xinfang.serving.rate_limits import enforce_rate_limit
from xinfang.serving.state import AppState, StateDep


def _error(text: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": text}


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("`bad_request`"), 401: _error("`missing_api_key`"),
    403: _error("`invalid_api_key`, `forbidden_role`: only a key with role admin manages keys"),
    404: _error("`not_found`: no key with this label"), 408: _error("`body_timeout`"),
    409: _error("`key_exists` (labels are unique), `auth_disabled` (authentication is off)"),
    413: _error("`body_too_large`"), 415: _error("`unsupported_media_type`: not JSON"),
    422: _error("`invalid_json`, `invalid_request`"), 429: _error("`rate_limited` (see Retry-After)"),
    503: _error("`not_ready`"),
}
keys_router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=_ERRORS,
                        dependencies=[Depends(require_api_key), Depends(enforce_rate_limit)])


class KeyInfo(BaseModel):
    label: str
    role: Role
    sha256_prefix: str = Field(description="the first 12 hex digits of the key's SHA-256 (the key is not stored)")


class NewKeyRequest(BaseModel):
    label: str = Field(pattern=r"^[\w.@:-]{1,64}$", description="who holds the key (unique)")
    role: Role = Role.intake


class NewKey(KeyInfo):
    key: str = Field(description="the key itself: shown only in this answer")


def _info(e: KeyEntry) -> dict[str, Any]:
    return {"label": e.label, "role": e.role, "sha256_prefix": e.digest[:12]}


def _keys_file(state: AppState) -> Path:
    if state.keyring is None:
        raise ApiError(409, "auth_disabled", "API key authentication is off: there are no keys to manage")
    return state.settings.api_keys_path


@keys_router.get("", response_model=list[KeyInfo], summary="The accepted keys")
async def list_keys(state: StateDep) -> Any:
    return [_info(e) for e in await run_in_threadpool(read_keys, _keys_file(state))]


@keys_router.post("", response_model=NewKey, status_code=201, summary="Create a key (shown once)")
async def new_key(body: NewKeyRequest, state: StateDep) -> Any:
    path = _keys_file(state)
    try:
        key = await run_in_threadpool(create_key, path, body.label, body.role)
    except XinfangError as exc:
        raise ApiError(409, "key_exists", str(exc)) from None
    entry = next(e for e in read_keys(path) if e.label == body.label)
    return {**_info(entry), "key": key}


@keys_router.delete("/{label}", status_code=204, summary="Revoke a key")
async def delete_key(label: str, state: StateDep) -> Response:
    if not await run_in_threadpool(revoke_key, _keys_file(state), label):
        raise ApiError(404, "not_found", f"no key labelled {label!r}")
    return Response(status_code=204)
