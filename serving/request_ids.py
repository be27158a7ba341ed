"""Request ids: taken from `X-Request-ID` when it is a sane short token, else made; in the logs and the response."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
CURRENT: ContextVar[str | None] = ContextVar("xinfang_request_id", default=None)
"""The id of the request being answered in this context (None outside a request: start-up, the scorer thread)."""

_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")  # ASCII, no spaces or quotes, at most 64 characters


def accept_request_id(given: str | None) -> str:
    """The client's id when it is a sane short token (a load balancer's or a client's trace id), else a new one."""
    if given is not None and _SANE.fullmatch(given):
        return given
    return uuid.uuid4().hex


class RequestIds:
    """ASGI middleware: every HTTP request gets an id, set in CURRENT for its logs (and in scope state as
    `request_id`) and returned in the `X-Request-ID` response header (by the error handler on a 500, which
    Starlette answers outside every middleware)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(Headers(scope=scope).get(HEADER))
        scope.setdefault("state", {})["request_id"] = request_id

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        token = CURRENT.set(request_id)
        await self.app(scope, receive, sending)  # an exception escapes with the id still set: the
        CURRENT.reset(token)  # server-error handler outside this middleware logs it under the request's id
