"""API errors as JSON bodies {"error": {"code", "message"}} and the handlers that produce them."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from xinfang.serving.request_ids import HEADER

log = logging.getLogger("xinfang.serving.errors")

# pydantic error types raised by our own validators that become the error code
CUSTOM_CODES = frozenset({"empty_text", "invalid_encoding"})
_PYDANTIC_CODES = {"string_unicode": "invalid_encoding"}  # pydantic's own name for a lone surrogate
_STATUS_CODES = {400: "bad_request", 401: "missing_api_key", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 408: "body_timeout", 413: "body_too_large",
                 415: "unsupported_media_type", 503: "unavailable"}


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: a field name the client sent may hold a lone surrogate, which UTF-8 cannot encode."""

    def render(self, content: object) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class ApiError(Exception):
    """An error answered to the client with its own HTTP status, code and message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   details: list[dict] | None = None) -> JSONResponse:
    error: dict = {"code": code, "message": message}
    if details:
        error["details"] = details
    return AsciiJSONResponse({"error": error}, status_code=status, headers=headers)


def _loc(loc: tuple) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def validation_response(exc: RequestValidationError) -> JSONResponse:
    """422 naming each bad field; the offending input is never echoed (it may be letter text)."""
    errors = exc.errors()
    details = [{"loc": _loc(tuple(e.get("loc", ()))), "type": e.get("type", ""), "message": e.get("msg", "")}
               for e in errors[:20]]
    first = details[0] if details else {"loc": "body", "type": "invalid", "message": "invalid request"}
    if first["type"] == "json_invalid":
        code = "invalid_json"
    elif first["type"] in CUSTOM_CODES:
        code = first["type"]
    elif first["type"] in _PYDANTIC_CODES:
        code = _PYDANTIC_CODES[first["type"]]
    else:
        code = "invalid_request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return error_response(422, code, f"{first['loc']}: {first['message']}{more}", details=details)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
        request_id = request.scope.get("state", {}).get("request_id")  # this response bypasses RequestIds
        return error_response(500, "internal_error", "internal error; the server log has the details",
                              {HEADER: request_id} if request_id else None)
