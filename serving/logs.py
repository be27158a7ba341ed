"""Logging for the server: redacted (no letter text), with request ids, as JSON lines or plain text."""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

from xinfang.pii import RedactingFilter, redact_for_log, safe_log_fields
from xinfang.serving.request_ids import CURRENT

SERVER_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "xinfang.serving")
LogFormat = Literal["json", "text"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
_OWN_FIELDS = frozenset({"time", "level", "logger", "message", "request_id"})
_DROPPED = frozenset({"color_message"})  # uvicorn's copy of the message with terminal colours


class RequestIdFilter(logging.Filter):
    """Sets `record.request_id`: the id of the request being answered, or '-' outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = CURRENT.get() or "-"
        return True


class RedactedJsonFormatter(JsonFormatter):
    """One JSON object per record: time, level, logger, message, request_id, and any extra fields, every
    string redacted (text-like keys become a fingerprint) and tracebacks too, even without RedactingFilter."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s %(message)s %(request_id)s", timestamp="time",  # ISO 8601, UTC
                         rename_fields={"levelname": "level", "name": "logger"})

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in sorted(log_data, key=lambda k: k != "time"):  # time first
            value = log_data[key]
            if key in _DROPPED:
                continue
            if key in _OWN_FIELDS or isinstance(value, bool | int | float | None):
                out[key] = redact_for_log(value) if isinstance(value, str) else value
            elif isinstance(value, str):
                out.update(safe_log_fields({key: value}))
            else:  # lists, dicts, objects: their text form, redacted
                out[key] = redact_for_log(str(value))
        return out


def attach_redaction(logger_names: tuple[str, ...] = SERVER_LOGGERS) -> int:
    """Add a RedactingFilter and a RequestIdFilter to each handler of these loggers that lacks them;
    returns how many filters were added."""
    added = 0
    for name in logger_names:
        for handler in logging.getLogger(name).handlers:
            for kind in (RedactingFilter, RequestIdFilter):
                if not any(isinstance(f, kind) for f in handler.filters):
                    handler.addFilter(kind())
                    added += 1
    return added


def make_formatter(fmt: LogFormat) -> logging.Formatter:
    return RedactedJsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def setup_logging(level: str = "INFO", fmt: LogFormat = "json") -> None:
    """One stderr handler on the root logger (uvicorn's loggers propagate to it), redacting, with request ids."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(make_formatter(fmt))
        root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    attach_redaction()
