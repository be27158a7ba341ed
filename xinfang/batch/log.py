"""The batch job's logger: ids, counts and timings only, with personal data redacted by a filter."""

from __future__ import annotations

import logging

from xinfang.pii import RedactingFilter

LOGGER_NAME = "xinfang.batch"


def get_logger() -> logging.Logger:
    """The one logger of the batch package, with a RedactingFilter attached once."""
    log = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(f, RedactingFilter) for f in log.filters):
        log.addFilter(RedactingFilter())
    return log


def log_to_stderr(level: int = logging.INFO) -> None:
    """Send the batch logger to stderr (the handler redacts too, as records may be propagated to it)."""
    log = get_logger()
    if not any(getattr(h, "_xinfang_batch", False) for h in log.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        handler._xinfang_batch = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(level)
