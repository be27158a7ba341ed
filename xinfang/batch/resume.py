"""Reading a previous run's files back: torn final lines cut, done ids, error lines and signatures."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from xinfang.batch.writer import ResultCodec
from xinfang.errors import XinfangError
from xinfang.result import LetterResult, ModelRef

T = TypeVar("T")


class ResumeError(XinfangError):
    """A previous run's file cannot be resumed (corrupt in the middle, or written by another job)."""


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as f:
        f.truncate(size)
        f.flush()
        os.fsync(f.fileno())


def scan(path: Path, parse: Callable[[str], T], header: str | None = None) -> Iterator[T]:
    """Parsed lines of a file this job appends to. A final line without a newline is torn and cut off,
    and so are unparsable lines at the end (a crash can only damage the tail); an unparsable line
    followed by good ones raises ResumeError. With `header`, the first line must equal it."""
    if not path.exists():
        return
    bad_from: int | None = None
    bad_line = 0
    offset = 0
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            start, offset = offset, offset + len(raw)
            try:
                if not raw.endswith(b"\n"):
                    raise ValueError("torn line")
                line = raw.decode("utf-8")
                if n == 1 and header is not None:
                    if line.lstrip("\ufeff") != header.lstrip("\ufeff"):  # files from before the BOM too
                        raise ResumeError(f"{path} has other columns than this job writes; "
                                          "use --restart or another output file")
                    continue
                value = parse(line)
            except ResumeError:
                raise
            except (ValueError, KeyError, TypeError):
                if bad_from is None:
                    bad_from, bad_line = start, n
                continue
            if bad_from is not None:
                raise ResumeError(f"{path} line {bad_line} is not a row this job wrote, but later lines are; "
                                  "fix or remove the file, or use --restart")
            yield value
    if bad_from is not None:
        _truncate(path, bad_from)


@dataclass
class OutputState:
    """What a previous run left in the output file."""

    done: set[str] = field(default_factory=set)
    model: ModelRef | None = None


def load_output(path: Path, codec: ResultCodec, on_result: Callable[[LetterResult], None]) -> OutputState:
    state = OutputState()
    for result in scan(path, codec.decode, codec.header):
        if result.id in state.done:
            raise ResumeError(f"{path} holds letter id twice; fix or remove the file, or use --restart")
        state.done.add(result.id)
        if state.model is None:
            state.model = result.model
        on_result(result)
    return state


def _parse_error(line: str) -> dict:
    rec = json.loads(line)
    ok = isinstance(rec, dict) and isinstance(rec.get("line"), int) and isinstance(rec.get("reason"), str)
    if not ok:
        raise ValueError("not an error row")
    return rec


def load_errors(path: Path, on_error: Callable[[dict], None]) -> set[int]:
    """Input line numbers that already have an error row."""
    lines: set[int] = set()
    for rec in scan(path, _parse_error):
        if rec["line"] not in lines:
            lines.add(rec["line"])
            on_error(rec)
    return lines


def encode_sig(sig: np.ndarray) -> str:
    return base64.b64encode(np.asarray(sig, dtype="<u4").tobytes()).decode("ascii")


def decode_sig(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text, validate=True), dtype="<u4").astype(np.uint32)


def _parse_sig(line: str) -> tuple[str, str | None, np.ndarray]:
    rec = json.loads(line)
    sub = rec.get("sub")
    if not isinstance(rec.get("id"), str) or not (sub is None or isinstance(sub, str)):
        raise ValueError("not a signature row")
    return rec["id"], sub, decode_sig(rec["sig"])


def load_signatures(path: Path, done: set[str], restore: Callable[[str, str | None, np.ndarray], None]
                    ) -> set[str]:
    """Restore the signatures of done letters in file order; rows of letters not in the output (a chunk
    that crashed between the two writes) or repeated are then dropped from the file.
    Returns the restored ids."""
    restored: set[str] = set()
    dirty = False
    for letter_id, sub, sig in scan(path, _parse_sig):
        if letter_id in done and letter_id not in restored:
            restore(letter_id, sub, sig)
            restored.add(letter_id)
        else:
            dirty = True
    if dirty:
        _rewrite_signatures(path, restored)
    return restored


def _rewrite_signatures(path: Path, keep: set[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    written: set[str] = set()
    with path.open("rb") as src, tmp.open("wb") as dst:
        for raw in src:
            letter_id = _parse_sig(raw.decode("utf-8"))[0]
            if letter_id in keep and letter_id not in written:
                dst.write(raw)
                written.add(letter_id)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, path)
