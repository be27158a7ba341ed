"""API-key authentication from the request headers: `Authorization: Bearer KEY` or `X-API-Key: KEY`.

`KeyGate` checks the key, and that its role may use the path (`/v1/keys`: admin; the rest of `/v1`: intake),
before any byte of the body is read; `require_api_key` is the same check as a FastAPI dependency, so the
OpenAPI document declares the security schemes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from xinfang.serving.errors import ApiError, error_response
from xinfang.serving.keys import KeyRing, Permission
from xinfang.serving.state import StateDep

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>` (`xinfang apikey create`)")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the same key in `X-API-Key`")


KEYS_PREFIX = "/v1/keys"


def required_permission(path: str) -> Permission:
    """What a key's role must allow to use an API path: managing keys under /v1/keys, else scoring."""
    return Permission.keys if path == KEYS_PREFIX or path.startswith(KEYS_PREFIX + "/") else Permission.score


def authenticate(keyring: KeyRing | None, headers: Headers, permission: Permission = Permission.score) -> str:
    """The label of the caller's key; ApiError 401 without a key, 403 with a wrong one or one whose role
    lacks `permission` ('anonymous' with auth off)."""
    if keyring is None:
        return "anonymous"
    scheme, credentials = get_authorization_scheme_param(headers.get("authorization"))
    key = credentials if scheme.lower() == "bearer" and credentials else headers.get("x-api-key")
    if not key:
        raise ApiError(401, "missing_api_key", "an API key is required: 'Authorization: Bearer <key>' or "
                       "'X-API-Key: <key>'", headers={"WWW-Authenticate": "Bearer"})
    entry = keyring.identify(key)
    if entry is None:
        raise ApiError(403, "invalid_api_key", "the API key is not valid")
    if not entry.may(permission):
        raise ApiError(403, "forbidden_role", f"a key with role '{entry.role.value}' may not {permission.value}")
    return entry.label


class KeyGate:
    """ASGI middleware answering 401/403 for paths under `prefix` from the headers alone, so an
    unauthenticated client never makes the server read (and hold) its body."""

    def __init__(self, app: ASGIApp, prefix: str = "/v1/"):
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            state = getattr(scope["app"].state, "xinfang", None) if "app" in scope else None
            if state is not None:  # while starting, the route answers 503 not_ready
                try:
                    scope.setdefault("state", {})["api_key_label"] = authenticate(
                        state.keyring, Headers(scope=scope), required_permission(scope["path"]))
                except ApiError as exc:
                    await error_response(exc.status, exc.code, exc.message, exc.headers)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def require_api_key(
    request: Request,
    state: StateDep,
    _bearer: Annotated[object, Depends(bearer)],
    _header: Annotated[object, Depends(api_key_header)],
) -> str:
    """The label of the caller's key (KeyGate has already refused requests without a valid one)."""
    label = authenticate(state.keyring, request.headers, required_permission(request.url.path))
    request.state.api_key_label = label
    return label
