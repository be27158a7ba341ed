"""Surface noise of real letters (typos, punctuation, width, spacing), applied outside signal spans."""

from __future__ import annotations

import re
from dataclasses import dataclass
from random import Random
from typing import Any

from xinfang.training.generator.fillers import weighted
from xinfang.training.generator.segments import Segment

_FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
_HALF = {"，": ",", "。": ".", "！": "!", "？": "?", "：": ":", "（": "(", "）": ")", "；": ";"}


@dataclass(frozen=True)
class NoiseProfile:
    """Per-letter noise rates (per occurrence); zero turns an effect off."""

    typo: float = 0.0
    half: float = 0.0
    runon: float = 0.0
    drop_comma: float = 0.0
    comma_space: float = 0.0
    extra_space: float = 0.0
    extra_newline: float = 0.0
    exclaim: float = 0.0
    fullwidth_digits: bool = False


def draw_profile(rng: Random, cfg: dict[str, Any]) -> NoiseProfile | None:
    """The noise of one letter, or None for a clean one."""
    level = weighted(rng, cfg["noise"]["level"])
    if level == "clean":
        return None
    r = cfg["noise"][level]

    def sometimes(p: float, lo: float, hi: float) -> float:
        return rng.uniform(lo, hi) if rng.random() < p else 0.0

    return NoiseProfile(
        typo=r["typo"] * rng.uniform(0.3, 1.7),
        half=sometimes(r["halfwidth_punct"], 0.4, 1.0),
        runon=sometimes(r["runon"], 0.3, 0.9),
        drop_comma=r["drop_comma"] * rng.uniform(0.0, 2.0),
        comma_space=sometimes(r["comma_space"], 0.3, 0.9),
        extra_space=r["extra_space"] * rng.uniform(0.0, 2.0),
        extra_newline=r["extra_newline"] * rng.uniform(0.0, 2.0),
        exclaim=sometimes(r["exclaim"], 0.4, 0.9),
        fullwidth_digits=rng.random() < r["fullwidth_digits"],
    )


class Noiser:
    """Applies a NoiseProfile to letter segments; span text only ever gets full-width digits."""

    def __init__(self, homophones: list[list[str]]):
        self.table: dict[str, list[str]] = {}
        for src, dst in homophones:
            self.table.setdefault(src, []).append(dst)
        keys = sorted(self.table, key=lambda k: (-len(k), k))
        self.pattern = re.compile("|".join(re.escape(k) for k in keys))

    def apply(self, segments: list[Segment], rng: Random, p: NoiseProfile | None) -> list[Segment]:
        if p is None:
            return segments
        out = []
        for seg in segments:
            text = seg.text
            if p.fullwidth_digits:
                text = text.translate(_FULLWIDTH_DIGITS)
            if seg.span is None:
                text = self._plain(text, rng, p)
            out.append(Segment(text, seg.span))
        return out

    def _plain(self, text: str, rng: Random, p: NoiseProfile) -> str:
        if p.typo:
            text = self.pattern.sub(
                lambda m: rng.choice(self.table[m.group(0)]) if rng.random() < p.typo else m.group(0), text)
        chars: list[str] = []
        for c in text:
            if c == "，":
                if rng.random() < p.drop_comma:
                    continue
                if rng.random() < p.comma_space:
                    c = " "
            elif c == "。" and rng.random() < p.runon:
                c = "，"
            elif c == "！" and rng.random() < p.exclaim:
                c = rng.choice(["！！", "！！！", "!!"])
            if c in _HALF and rng.random() < p.half:
                c = _HALF[c]
            chars.append(c)
            if c in "。.！!？?" and rng.random() < p.extra_newline:
                chars.append("\n")
            elif c != "\n" and rng.random() < p.extra_space:
                chars.append(" ")
        return "".join(chars)
