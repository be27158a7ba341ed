"""Letter text: normalisation and overlapping token windows, shared by training and the engine."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Encoding, Tokenizer

_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff\u00ad]")


def normalise(text: str) -> str:
    """Canonical model input: NFC, no invisible characters, runs of blanks collapsed."""
    return normalise_with_map(text)[0]


def normalise_with_map(text: str) -> tuple[str, list[int]]:
    """The normalised text and, for each of its characters, the index in `text` it came from, so that spans
    found in the model's input point back into the letter as written."""
    composed = unicodedata.normalize("NFC", text)
    if composed != text:  # composition merges characters: align by decomposing each one (rare in Chinese)
        where = [i for i, ch in enumerate(text) if not unicodedata.combining(ch)]
        text, origin = (composed, where) if len(where) == len(composed) else (composed, list(range(len(composed))))
    else:
        origin = list(range(len(text)))
    chars: list[str] = []
    back: list[int] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\r":
            ch = "\n"
            if i + 1 < len(text) and text[i + 1] == "\n":
                i += 1
        if not _INVISIBLE.match(ch):
            chars.append(ch)
            back.append(origin[i])
        i += 1
    return _collapse("".join(chars), back)


def _collapse(text: str, back: list[int]) -> tuple[str, list[int]]:
    """Blank runs to one space, blanks around newlines dropped, ends stripped; the index map follows."""
    out: list[str] = []
    where: list[int] = []
    pos = 0
    for m in re.finditer(r"\s*\n\s*|[ \t\u3000\xa0]+", text):
        out.append(text[pos: m.start()])
        where += back[pos: m.start()]
        if "\n" in m.group():
            j = m.start() + m.group().index("\n")
            out.append("\n")
            where.append(back[j])
        else:
            out.append(" ")
            where.append(back[m.start()])
        pos = m.end()
    out.append(text[pos:])
    where += back[pos:]
    joined = "".join(out)
    lead = len(joined) - len(joined.lstrip())
    stripped = joined.strip()
    return stripped, where[lead: lead + len(stripped)]


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
    """One model input: token ids with specials, the character span of the letter it covers, and each token's
    [start, end) characters in the (normalised) letter ((0, 0) for the specials)."""

    ids: list[int]
    char_start: int
    char_end: int
    offsets: tuple[tuple[int, int], ...] = ()


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
        return self._cut(self.tokenizer.encode(text, add_special_tokens=False))

    def windows_batch(self, texts: Sequence[str]) -> list[list[Window]]:
        """`windows` of each letter, in order, tokenised in one `encode_batch` call (the tokenizers library
        encodes the letters in parallel, outside the GIL)."""
        return [self._cut(enc) for enc in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def _cut(self, enc: Encoding) -> list[Window]:
        """One letter's encoding (without specials) cut into windows with the specials added."""
        ids, offsets = enc.ids, enc.offsets
        size = self.max_length - self.n_specials
        out = []
        for a, b in window_bounds(len(ids), size, min(self.overlap, size - 1)):
            body = ids[a:b]
            full = ([self.bos_id] if self.bos_id is not None else []) + body + (
                [self.eos_id] if self.eos_id is not None else [])
            cs = offsets[a][0] if b > a else 0
            ce = offsets[b - 1][1] if b > a else 0
            spans = ([(0, 0)] if self.bos_id is not None else []) + list(offsets[a:b]) + (
                [(0, 0)] if self.eos_id is not None else [])
            out.append(Window(ids=full, char_start=cs, char_end=ce, offsets=tuple(spans)))
        return out

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)
