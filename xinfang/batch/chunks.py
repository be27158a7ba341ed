"""Chunks of letters and their outcomes: scoring a chunk with a per-letter retry, and the in-process runner."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from xinfang.batch.records import Letter, Rejected
from xinfang.engine import Engine, LetterIn
from xinfang.result import LetterResult


@dataclass
class Chunk:
    """Letters to score together, and the rejected rows read since the previous chunk."""

    letters: list[Letter] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(frozen=True)
class Scored:
    """A letter's result and its MinHash signature."""

    result: LetterResult
    sig: np.ndarray


@dataclass(frozen=True)
class Failed:
    """A letter the model raised on, alone; `error` is the exception's class name (never its message)."""

    error: str


Outcome = Scored | Failed


def score_texts(engine: Engine, letters: Sequence[LetterIn]) -> list[LetterResult | Failed]:
    """Results in order; if the chunk raises, each letter is retried alone so one bad letter fails alone."""
    try:
        return list(engine.score(letters))
    except Exception:  # any model failure is reported per letter, never fatal
        pass
    out: list[LetterResult | Failed] = []
    for letter in letters:
        try:
            out.append(engine.score([letter])[0])
        except Exception as exc:
            out.append(Failed(type(exc).__name__))
    return out


class LocalScorer:
    """Scores chunks in this process, one after another."""

    def __init__(self, engine: Engine, signature):
        self.engine = engine
        self.signature = signature

    def run(self, chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, list[Outcome]]]:
        for chunk in chunks:
            letters = [LetterIn(x.id, x.text) for x in chunk.letters]
            results = score_texts(self.engine, letters) if letters else []
            yield chunk, [r if isinstance(r, Failed) else Scored(r, self.signature(x.text))
                          for x, r in zip(chunk.letters, results, strict=True)]
