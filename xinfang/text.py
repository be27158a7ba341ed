"""Letter text: normalisation and overlapping token windows, shared by training and the engine."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff\u00ad]")
_SPACES = re.compile(r"[ \t\u3000\xa0]+")
_NEWLINES = re.compile(r"\s*\n\s*")


def normalise(text: str) -> str:
    """Canonical model input: NFC, no invisible characters, runs of blanks collapsed."""
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n", text).strip()


def window_bounds(n_tokens: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) bounds of overlapping windows of at most `size` tokens covering n_tokens."""
    if size <= 0:
        raise ValueError("window size must be positive")
    if not 0 <= overlap < size:
        raise ValueError("overlap must be >= 0 and smaller than the window")
    if n_tokens <= size:
        return [(0, n_tokens)]
    step = size - overlap
    bounds = []
    start = 0
    while True:
        end = min(start + size, n_tokens)
        bounds.append((start, end))
        if end == n_tokens:
            return bounds
        start += step
        if n_tokens - start < size:  # last window ends flush with the text, full length
            start = n_tokens - size


@dataclass(frozen=True)
class Window:
    """One model input: token ids with specials, and the character span of the letter it covers."""

    ids: list[int]
    char_start: int
    char_end: int


class LetterTokenizer:
    """A `tokenizers` tokenizer that cuts letters into overlapping windows with specials added."""

    def __init__(self, tokenizer: Tokenizer, max_length: int = 256, overlap: int = 64):
        self.tokenizer = tokenizer
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.max_length = max_length
        self.overlap = overlap
        specials = tokenizer.encode("", add_special_tokens=True).ids
        self.bos_id: int | None = specials[0] if len(specials) >= 2 else None
        self.eos_id: int | None = specials[-1] if len(specials) >= 2 else None
        self.pad_id = self._pad_id(tokenizer)

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: int) -> LetterTokenizer:
        return cls(Tokenizer.from_file(str(path)), **kwargs)

    @staticmethod
    def _pad_id(tokenizer: Tokenizer) -> int:
        for tok in ("<pad>", "[PAD]", "<PAD>"):
            idx = tokenizer.token_to_id(tok)
            if idx is not None:
                return idx
        return 0

    @property
    def n_specials(self) -> int:
        return int(self.bos_id is not None) + int(self.eos_id is not None)

    def windows(self, text: str) -> list[Window]:
        """Windows of one (normalised) letter; an empty letter gives one window of specials only."""
        enc = self.tokenizer.encode(text, add_special_tokens=False)
        ids, offsets = enc.ids, enc.offsets
        size = self.max_length - self.n_specials
        out = []
        for a, b in window_bounds(len(ids), size, min(self.overlap, size - 1)):
            body = ids[a:b]
            full = ([self.bos_id] if self.bos_id is not None else []) + body + (
                [self.eos_id] if self.eos_id is not None else [])
            cs = offsets[a][0] if b > a else 0
            ce = offsets[b - 1][1] if b > a else 0
            out.append(Window(ids=full, char_start=cs, char_end=ce))
        return out

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)
