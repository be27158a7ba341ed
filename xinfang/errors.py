"""Errors that name the file, line and field of bad input, so a user can fix it."""

from __future__ import annotations

from pathlib import Path


class XinfangError(Exception):
    """Base class for errors shown to users as one clear line."""


class InputFileError(XinfangError):
    """A data, schema or labels file is malformed at a known place."""

    def __init__(self, path: str | Path, message: str, line: int | None = None, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = message
        where = self.path + (f":{line}" if line is not None else "")
        what = f" field '{field}':" if field else ""
        super().__init__(f"{where}:{what} {message}")
