"""Which Unigram pieces a Chinese-letter vocabulary keeps, by character class and score."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

META = "\u2581"  # SentencePiece word-start marker


@dataclass(frozen=True)
class TrimRules:
    """Score cutoffs for the rule-based part of the kept set (pieces seen in the corpus are always kept)."""

    cjk_word_min_score: float | None = None  # multi-character CJK pieces; None keeps all (~9.4k in XLM-R)
    ascii_word_min_score: float | None = -11.0  # ASCII pieces with letters, e.g. "APP", "▁the" (~2.6k kept)

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF
            or 0x20000 <= o <= 0x2FA1F)


def _is_symbolic(ch: str) -> bool:
    """Punctuation, symbols and numbers of any script (，。、《》０１÷①…), plus ASCII non-letters."""
    return unicodedata.category(ch)[0] in "PSN" or (ord(ch) < 128 and not ch.isalpha())


def piece_class(piece: str) -> str:
    """One of: meta, cjk_char, cjk_word, ascii_char, ascii_word, symbolic, cjk_mixed, fullwidth, other."""
    body = piece[1:] if piece.startswith(META) else piece
    if not body:
        return "meta"
    if all(is_cjk(c) for c in body):
        return "cjk_char" if len(body) == 1 else "cjk_word"
    if all(ord(c) < 128 for c in body) and any(c.isalpha() for c in body):
        return "ascii_char" if len(body) == 1 else "ascii_word"
    if all(_is_symbolic(c) for c in body):
        return "symbolic"
    if all(is_cjk(c) or _is_symbolic(c) for c in body):
        return "cjk_mixed"  # e.g. "1月", "(一)"
    if len(body) == 1 and 0xFF00 <= ord(body) <= 0xFFEF:
        return "fullwidth"
    return "other"


def rule_keeps(cls: str, score: float, rules: TrimRules) -> bool:
    if cls in ("meta", "cjk_char", "ascii_char", "symbolic", "cjk_mixed", "fullwidth"):
        return True
    if cls == "cjk_word":
        return rules.cjk_word_min_score is None or score >= rules.cjk_word_min_score
    if cls == "ascii_word":
        return rules.ascii_word_min_score is None or score >= rules.ascii_word_min_score
    return False


def select_ids(vocab: Sequence[Sequence[str | float]], special_ids: Iterable[int], seen_ids: Iterable[int],
               rules: TrimRules) -> tuple[list[int], dict[str, int]]:
    """Sorted ids to keep and how many each reason added (specials, then corpus, then rules)."""
    keep: set[int] = set()
    counts: Counter[str] = Counter()

    def add(ids: Iterable[int], reason: str) -> None:
        for i in ids:
            if i not in keep:
                keep.add(i)
                counts[reason] += 1

    add(special_ids, "special")
    add(seen_ids, "corpus")
    add((i for i, (p, s) in enumerate(vocab) if rule_keeps(piece_class(str(p)), float(s), rules)), "rules")
    # Unigram scores an unknown character at (lowest score - 10): keep a lowest-scoring piece so that
    # the trimmed tokenizer scores unknowns exactly as the full one does.
    low = min(range(len(vocab)), key=lambda i: float(vocab[i][1]))
    if min(float(vocab[i][1]) for i in keep) > float(vocab[low][1]):
        add([low], "lowest_score")
    return sorted(keep), dict(counts)


def rule_class_counts(vocab: Sequence[Sequence[str | float]], ids: Iterable[int]) -> dict[str, int]:
    """Histogram of character classes over the given ids (for the base card)."""
    return dict(Counter(piece_class(str(vocab[i][0])) for i in ids))
