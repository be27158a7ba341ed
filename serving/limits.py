"""ASGI middleware guarding request bodies of /v1: JSON content type (multipart/form-data on upload paths)
(415), size (413) on the bytes actually received, not only on Content-Length, and time to send them (408)."""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xinfang.serving.errors import error_response


class BodyGuard:
    """Reads the whole body up front (at most max_body_bytes, within body_timeout_s) and replays it to the app.

    Only requests that reach an endpoint taking this method are guarded: any other method gets the
    router's 405 (with `Allow`) without its body being read."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout_s: float = 10.0, prefix: str = "/v1/",
                 uploads: dict[str, int] | None = None):
        self.app, self.max_body_bytes, self.body_timeout_s, self.prefix = app, max_body_bytes, body_timeout_s, prefix
        self.uploads = uploads or {}  # path -> its own byte limit; such paths take multipart/form-data, not JSON

    def _guarded(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS"}:
            return False
        if not scope["path"].startswith(self.prefix):
            return False
        routes = getattr(scope.get("app"), "routes", None)
        if routes is None:  # mounted on its own (tests): guard every body
            return True
        return any(route.matches(scope)[0] is Match.FULL for route in routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._guarded(scope):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        limit = self.uploads.get(scope["path"], self.max_body_bytes)
        wanted = "multipart/form-data" if scope["path"] in self.uploads else "application/json"
        if media != wanted:
            how = "as multipart/form-data" if wanted != "application/json" else \
                "as JSON with 'Content-Type: application/json'"
            await error_response(415, "unsupported_media_type", f"send the letters {how}")(scope, receive, send)
            return
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(413, f"the request body exceeds {limit} bytes", scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.body_timeout_s):
                body, too_large = await self._read(receive, limit)
        except TimeoutError:
            await self._refuse(408, f"the request body did not arrive within {self.body_timeout_s:g} s",
                               scope, receive, send)
            return
        if too_large:
            await self._refuse(413, f"the request body exceeds {limit} bytes", scope, receive, send)
            return
        if body is None:  # the client has gone
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive, limit: int) -> tuple[bytes | None, bool]:
        """(body, too large): body None if the client disconnected; stops at the chunk past `limit` bytes."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None, True
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    async def _refuse(self, status: int, message: str, scope: Scope, receive: Receive, send: Send) -> None:
        code = "body_too_large" if status == 413 else "body_timeout"
        await error_response(status, code, message, headers={"Connection": "close"})(scope, receive, send)
