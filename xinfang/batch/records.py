"""The records that flow through a batch job: letters, rejections and the reason codes of rejections."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Why an input row got an error row instead of a result (the `reason` field of the error file)."""

    malformed_row = "malformed_row"  # not a JSON object / wrong CSV field count / unparsable CSV
    invalid_encoding = "invalid_encoding"  # the row's bytes are not valid UTF-8
    missing_id = "missing_id"  # no id, or an empty one
    invalid_id = "invalid_id"  # an id that is not a string or integer, too long, or with control characters
    duplicate_id = "duplicate_id"  # an id already seen earlier in the same input
    missing_text = "missing_text"  # no text field, or one that is not a string
    empty_text = "empty_text"  # text empty or only whitespace
    too_long = "too_long"  # more characters than settings.batch_max_chars
    scoring_failed = "scoring_failed"  # the model raised on this letter alone
    unreadable_scan = "unreadable_scan"  # a scan (image/PDF) that cannot be decoded or OCR'd
    scan_too_large = "scan_too_large"  # a scan over settings.scan_max_bytes, _pages or _pixels (a bomb too)


@dataclass(frozen=True, slots=True)
class Letter:
    """A valid input letter; `line` is the 1-based line where its row starts."""

    line: int
    id: str
    text: str
    submitter: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input row that cannot be scored. `message` never quotes the letter text."""

    line: int
    reason: Reason
    message: str
    id: str | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, "line": self.line, "reason": self.reason.value, "message": self.message}
