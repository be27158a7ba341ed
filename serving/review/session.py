"""Login to the review page: an API key whose role may review opens a session kept in an HttpOnly,
SameSite=Strict cookie; every form carries the session's CSRF token."""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl, quote
from weakref import WeakKeyDictionary

from fastapi import Depends, Request, Response
from sqlalchemy.engine import Engine as SqlEngine
from starlette.datastructures import FormData

from xinfang.serving.errors import ApiError
from xinfang.serving.keys import PERMISSIONS, KeyEntry, Permission, Role
from xinfang.serving.review.store import ReviewStore
from xinfang.serving.state import AppState, StateDep

log = logging.getLogger("xinfang.serving.review")
COOKIE = "xf_review"
LOGIN_COOKIE = "xf_review_login"  # double-submit token of the login form (no session yet)
PATH = "/review"
ANONYMOUS = KeyEntry("", "anonymous", Role.reviewer)  # authentication off: a local reviewer, masked
_stores: WeakKeyDictionary[SqlEngine, ReviewStore] = WeakKeyDictionary()


def review_store(state: AppState) -> ReviewStore:
    """The review store on the results store's database (one per engine)."""
    engine = state.store.engine
    if engine not in _stores:
        _stores[engine] = ReviewStore(engine)
    return _stores[engine]


@dataclass(frozen=True)
class Reviewer:
    """Who is logged in: the key's label and role (read from the keys file on each request), and the
    session's CSRF token."""

    label: str
    role: Role
    csrf: str
    token: str

    @property
    def may_unmask(self) -> bool:
        return Permission.unmasked in PERMISSIONS[self.role]


def key_for_login(state: AppState, key: str) -> KeyEntry:
    """The key's entry if it may review; ApiError otherwise (auth off: anyone is the anonymous reviewer)."""
    if state.keyring is None:
        return ANONYMOUS
    entry = state.keyring.identify(key.strip()) if key.strip() else None
    if entry is None:
        raise ApiError(403, "invalid_api_key", "这个密钥无效 (the key is not valid)")
    if not entry.may(Permission.review):
        raise ApiError(403, "forbidden_role", f"角色 {entry.role.value} 不能审阅 (a key with role "
                       f"'{entry.role.value}' may not review)")
    return entry


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PATH, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def login_redirect(request: Request) -> ApiError:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return ApiError(303, "login_required", "log in first",
                    headers={"Location": f"{PATH}/login?next={quote(target, safe='')}"})


def current_reviewer(request: Request, state: StateDep) -> Reviewer:
    """The logged-in reviewer; a redirect to the login page without a live session of a key that may review."""
    token = request.cookies.get(COOKIE, "")
    session = review_store(state).session(token) if token else None
    if session is None:
        raise login_redirect(request)
    if state.keyring is None:
        entry: KeyEntry | None = ANONYMOUS
    else:
        entry = state.keyring.by_digest(session.key_digest) if session.key_digest else None
    if entry is None or not entry.may(Permission.review):  # revoked, or its role changed since the login
        review_store(state).close_session(token)
        raise login_redirect(request)
    return Reviewer(entry.label, entry.role, session.csrf, token)


ReviewerDep = Annotated[Reviewer, Depends(current_reviewer)]


def check_csrf(expected: str, given: object) -> None:
    if not isinstance(given, str) or not expected or not hmac.compare_digest(expected, given):
        raise ApiError(403, "csrf_failed", "表单已过期，请刷新页面 (the form's CSRF token does not match: reload)")


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


FORM_LIMIT = 64 * 1024  # bytes of a review form (a letter's labels): far more than any real one


async def read_form(request: Request) -> FormData:
    """The page's URL-encoded form, read up to FORM_LIMIT bytes (413 past it, 415 for another type)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise ApiError(415, "unsupported_media_type", "send the page's form (application/x-www-form-urlencoded)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise ApiError(413, "body_too_large", f"a review form has at most {FORM_LIMIT} bytes")
    return FormData(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
