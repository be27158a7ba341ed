"""ASGI middleware guarding request bodies of /v1: JSON content type (415) and size (413), on the bytes
actually received, not only on Content-Length."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import error_response

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class BodyGuard:
    """Reads the whole body up front (at most max_body_bytes) and replays it to the app."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, prefix: str = "/v1/"):
        self.app, self.max_body_bytes, self.prefix = app, max_body_bytes, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            await error_response(415, "unsupported_media_type",
                                 "send the letters as JSON with 'Content-Type: application/json'")(scope, receive, send)
            return
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await error_response(413, "body_too_large", f"the request body exceeds {self.max_body_bytes} bytes",
                             headers={"Connection": "close"})(scope, receive, send)
