"""Chunks of letters and their outcomes: scoring a chunk with a per-letter retry, the in-process runner, and
chunks through a pool of workers with a bounded number in flight, handed back in input order."""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
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


def score_outcomes(engine: Engine, signature: Callable[[str], np.ndarray], letters: Sequence[LetterIn]
                   ) -> list[Outcome]:
    """Each letter's outcome, in order: its result with its MinHash signature, or the failure."""
    results = score_texts(engine, letters) if letters else []
    return [r if isinstance(r, Failed) else Scored(r, signature(x.text))
            for x, r in zip(letters, results, strict=True)]


def letters_in(chunk: Chunk) -> list[LetterIn]:
    return [LetterIn(x.id, x.text) for x in chunk.letters]


def worker_outcomes(engine: Engine, signature: Callable[[str], np.ndarray], letters: Sequence[LetterIn]
                    ) -> tuple[int, list[Outcome]]:
    """score_outcomes in a worker process or actor, with the process id that scored them."""
    return os.getpid(), score_outcomes(engine, signature, letters)


def counted(future: Future, by_pid: Counter[int]) -> Future:
    """The outcomes of a worker's future of (pid, outcomes), counting chunks per worker process in `by_pid`."""
    out: Future = Future()

    def done(f: Future) -> None:
        try:
            pid, outcomes = f.result()
        except BaseException as exc:  # handed on to whoever waits for the outcomes
            out.set_exception(exc)
            return
        by_pid[pid] += 1
        out.set_result(outcomes)

    future.add_done_callback(done)
    return out


def in_order(chunks: Iterator[Chunk], submit: Callable[[list[LetterIn]], Future], depth: int
             ) -> Iterator[tuple[Chunk, list[Outcome]]]:
    """Chunks handed to `submit` (which returns a future of their outcomes) with at most `depth` unfinished;
    yielded in input order as each oldest one finishes. A chunk without letters needs no worker."""
    pending: deque[tuple[Chunk, Future]] = deque()
    for chunk in chunks:
        if chunk.letters:
            future = submit(letters_in(chunk))
        else:
            future = Future()
            future.set_result([])
        pending.append((chunk, future))
        while len(pending) >= max(1, depth) or (pending and pending[0][1].done()):
            done, future = pending.popleft()
            yield done, future.result()
    while pending:
        done, future = pending.popleft()
        yield done, future.result()


class LocalScorer:
    """Scores chunks in this process, one after another."""

    def __init__(self, engine: Engine, signature: Callable[[str], np.ndarray]):
        self.engine = engine
        self.signature = signature

    def run(self, chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, list[Outcome]]]:
        for chunk in chunks:
            yield chunk, score_outcomes(self.engine, self.signature, letters_in(chunk))
