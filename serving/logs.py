"""Logging for the server: every handler gets xinfang.pii.RedactingFilter, so no letter text is logged."""

from __future__ import annotations

import logging
import sys

from xinfang.pii import RedactingFilter

SERVER_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "xinfang.serving")


def attach_redaction(logger_names: tuple[str, ...] = SERVER_LOGGERS) -> int:
    """Add a RedactingFilter to each handler of these loggers that lacks one; returns how many were added."""
    added = 0
    for name in logger_names:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
                added += 1
    return added


def setup_logging(level: str = "INFO") -> None:
    """One stderr handler on the root logger (uvicorn's loggers propagate to it), redacting."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    attach_redaction()
