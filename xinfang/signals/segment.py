"""Lazy, once-only jieba segmentation with character offsets into the original text."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jieba
    import jieba.posseg

_LOCK = threading.Lock()
_STATE: dict[str, object] = {}


@dataclass(frozen=True, slots=True)
class Token:
    """One jieba word with its part-of-speech flag and [start, end) offsets in the segmented text."""

    word: str
    flag: str
    start: int
    end: int


def _load() -> tuple[jieba.Tokenizer, jieba.posseg.POSTokenizer]:
    """A private jieba tokenizer (so our dictionary tweaks never leak into jieba.dt), loaded once."""
    if "pos" not in _STATE:
        with _LOCK:
            if "pos" not in _STATE:
                import jieba
                import jieba.posseg

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _STATE["tok"] = tokenizer
                _STATE["pos"] = jieba.posseg.POSTokenizer(tokenizer)
    return _STATE["tok"], _STATE["pos"]  # type: ignore[return-value]


def warm_up() -> None:
    """Load the jieba dictionary now (about 1 s) instead of on the first letter."""
    _load()


def _with_offsets(text: str, pairs: list[tuple[str, str]]) -> tuple[Token, ...]:
    out: list[Token] = []
    pos = 0
    for word, flag in pairs:
        if not word:
            continue
        if text.startswith(word, pos):
            start = pos
        else:  # jieba should never drop characters; realign defensively if it does
            found = text.find(word, pos)
            if found < 0:
                continue
            start = found
        pos = start + len(word)
        out.append(Token(word, flag, start, pos))
    return tuple(out)


@lru_cache(maxsize=64)
def pos_tokens(text: str) -> tuple[Token, ...]:
    """Part-of-speech tokens of `text` (cached: signals and PII masking of one letter segment it once)."""
    _, pos = _load()
    return _with_offsets(text, [(p.word, p.flag) for p in pos.cut(text)])


def words(text: str) -> list[str]:
    """Plain jieba words without HMM guessing: fast and deterministic, for shingling."""
    tok, _ = _load()
    return tok.lcut(text, HMM=False)


def token_index(tokens: tuple[Token, ...]) -> tuple[dict[int, int], dict[int, int]]:
    """Maps from a start offset and from an end offset to the index of the token there."""
    return {t.start: i for i, t in enumerate(tokens)}, {t.end: i for i, t in enumerate(tokens)}
