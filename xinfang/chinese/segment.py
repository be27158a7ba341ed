"""Lazy, once-only jieba segmentation and tagging with character offsets into the original text."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jieba

_LOCK = threading.Lock()
_STATE: dict[str, object] = {}


@dataclass(frozen=True, slots=True)
class Token:
    """One jieba word with its part-of-speech flag and [start, end) offsets in the segmented text."""

    word: str
    flag: str
    start: int
    end: int


def _load() -> tuple[jieba.Tokenizer, dict[str, str]]:
    """A private jieba tokenizer (jieba.dt is never touched) and the dictionary's word tags, loaded once."""
    if "tags" not in _STATE:
        with _LOCK:
            if "tags" not in _STATE:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                tags: dict[str, str] = {}
                with tokenizer.get_dict_file() as f:
                    for line in f:
                        parts = line.decode("utf-8").split()
                        if len(parts) > 2:
                            tags[parts[0]] = parts[2]
                _STATE["tok"] = tokenizer
                _STATE["tags"] = tags
    return _STATE["tok"], _STATE["tags"]  # type: ignore[return-value]


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


_ASCII_ALNUM = re.compile(r"^[0-9A-Za-z.%-]+$")
_NUMERAL = re.compile(r"^[0-9.零〇一二三四五六七八九十百千万亿两几多余]+$")
_CJK_WORD = re.compile(r"^[\u4e00-\u9fff]+$")


def _tag(word: str, tags: dict[str, str]) -> str:
    """jieba's dictionary tag of a word; for a word the HMM invented, a guess from its shape
    (a new 2 to 3 character Chinese word is most often a name: posseg tags it nr too)."""
    if word[:1] == "某":
        return "r"  # 某镇, 某某: placeholders, which the dictionary sometimes calls names
    tag = tags.get(word)
    if tag:
        return tag
    if _NUMERAL.match(word):
        return "m"
    if _ASCII_ALNUM.match(word):
        return "eng" if any(c.isalpha() for c in word) else "m"
    if _CJK_WORD.match(word):
        return "nr" if 2 <= len(word) <= 3 else "n"
    return "x"


@lru_cache(maxsize=64)
def pos_tokens(text: str) -> tuple[Token, ...]:
    """Tagged tokens of `text` (cached: signals and PII masking of one letter segment it once).

    jieba.cut with its HMM (new words, most often names, come out whole) plus the dictionary's tags:
    7 times faster than jieba.posseg (whose per-character tagging HMM dominates its run time) and
    about as good at finding the names in real letters.
    """
    tok, tags = _load()
    return _with_offsets(text, [(w, _tag(w, tags)) for w in tok.cut(text, HMM=True)])


def words(text: str) -> list[str]:
    """Plain jieba words without HMM guessing: fast and deterministic, for shingling."""
    tok, _ = _load()
    return tok.lcut(text, HMM=False)


_NOUNISH = frozenset({"n", "nr", "nrt", "nrfg", "ns", "nt", "nz", "nl", "ng", "j", "eng", "m"})
_NUMERAL_CHARS = frozenset("0123456789.零〇一二三四五六七八九十百千万亿两几多余第年月日号时点分个")


def is_nounish(token: Token) -> bool:
    """A token that can be part of a proper name of a unit or place (nouns, 某, latin, 三路 but not 6月)."""
    if token.flag == "m":
        return not set(token.word) <= _NUMERAL_CHARS and not any(c in "年月日号" for c in token.word)
    if token.flag in _NOUNISH or token.word[:1] == "某":
        return True
    return token.flag == "x" and token.word.isascii() and token.word.isalnum() and not token.word.isdigit()


def word_freq(word: str) -> int:
    """How often jieba's dictionary has seen `word` (0 for words it does not know, such as most names)."""
    tok, _ = _load()
    return int(tok.FREQ.get(word) or 0)


def extend_left(tokens: tuple[Token, ...], i: int, max_chars: int = 12) -> int:
    """Index of the first token of the noun run that ends with token i (at most max_chars long)."""
    j = i
    end = tokens[i].end
    while j > 0 and is_nounish(tokens[j - 1]) and end - tokens[j - 1].start <= max_chars:
        j -= 1
    return j


_FOLD = {0xFF10 + i: ord("0") + i for i in range(10)}
_FOLD.update({0xFF21 + i: ord("A") + i for i in range(26)})
_FOLD.update({0xFF41 + i: ord("a") + i for i in range(26)})
_FOLD.update({ord("％"): ord("%"), ord("＋"): ord("+"), ord("－"): ord("-"), ord("＠"): ord("@"),
              ord("．"): ord("."), ord("\u3000"): ord(" "), ord("\xa0"): ord(" "), ord("（"): ord("("),
              ord("）"): ord(")"), ord("＊"): ord("*")})


def fold_width(text: str) -> str:
    """Full-width digits, letters and a few symbols as ASCII, one character for one: offsets are kept."""
    return text.translate(_FOLD)
