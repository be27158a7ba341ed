"""Specific places (阳光花园小区, 某工地, 人民路88号) and detailed addresses in a letter."""

from __future__ import annotations

import re

from xinfang.chinese.lexicon import Lexicon
from xinfang.chinese.names import specific_part
from xinfang.chinese.segment import Token, extend_left, is_nounish, pos_tokens, word_freq
from xinfang.chinese.span import Span

_NUM = "[0-9零〇一二三四五六七八九十百]+"
_NUM_SEP = "(?:[-—][0-9]+)?"
# House numbers after a place: 88号, 3栋2单元501室, 3组12号.
_HOUSE = re.compile(f"(?:{_NUM}{_NUM_SEP}(?:号楼|号院|栋|幢|座|单元|楼|层|室|号|组|门|户)){{1,5}}")
# An address made of house numbers alone: 3栋2单元501室 (at least two parts).
_HOUSE_ONLY = re.compile(f"(?<![0-9])(?:{_NUM}(?:号楼|栋|幢|座))(?:{_NUM}(?:单元|楼|层|室|号|户)){{1,3}}")
_ROADS = ("路", "街", "大道", "大街", "巷", "胡同", "弄", "道")
_NOT_HOUSE_AFTER = frozenset("线令文字")
_HEAD_FLAGS_SKIP = "vdpcuxrf"


def _covered(spans: list[Span], start: int, end: int) -> bool:
    return any(s.start < end and start < s.end for s in spans)


def place_spans(text: str, lex: Lexicon, tokens: tuple[Token, ...] | None = None) -> list[Span]:
    """Named places with any house numbers after them.

    rule "address" when house numbers follow (人民路88号, 阳光小区3栋501室), else "place".
    A place needs a specific part: 农村, 道路, 这个小区 are not places.
    """
    tokens = pos_tokens(text) if tokens is None else tokens
    out: list[Span] = []
    for i, t in enumerate(tokens):
        skip = t.flag[:1] in _HEAD_FLAGS_SKIP and t.word[:1] != "某"
        if skip and not (t.flag == "x" and t.word.upper() == "KTV"):
            continue
        suffix = next((s for s in lex.place_suffixes if t.word.endswith(s)), None)
        if suffix is None or t.flag.startswith("nr"):
            continue
        j = extend_left(tokens, i)
        prev = tokens[i - 1] if i else None
        if j == i and t.word in _ROADS and prev is not None and prev.flag == "a" and len(prev.word) > 1:
            j = extend_left(tokens, i - 1)  # 幸福路, 光明街: roads named with an adjective
        start = tokens[j].start
        if out and out[-1].end >= start and out[-1].rule == "place":
            start = out.pop().start
        chunk = text[start:t.end]
        prefix = chunk[: len(chunk) - len(suffix)]
        own_prefix = t.word[: len(t.word) - len(suffix)]
        own_specific = (len(own_prefix) >= 2 and t.word not in lex.place_generic
                        and (word_freq(t.word) < 100 or t.flag in ("ns", "nz", "nt")))
        specific = (chunk not in lex.place_generic and prefix not in lex.place_not_prefix
                    and (any(specific_part(tokens[k], lex) for k in range(j, i))
                         or own_specific and own_prefix not in lex.place_not_prefix))
        end = t.end
        house = _HOUSE.match(text, end)
        if house:
            end = house.end()
        if not specific and not (house and suffix in _ROADS + ("村",)):
            continue
        out.append(Span(start, end, "address" if house else "place"))
    by_end = {t.end: i for i, t in enumerate(tokens)}
    for m in _HOUSE.finditer(text):  # house numbers after any noun run: 渔池头村七组, 高泽源大厦2楼
        i = by_end.get(m.start())
        if i is None or tokens[i].flag == "m" or not is_nounish(tokens[i]):
            continue
        if _covered(out, m.start(), m.end()):
            continue
        house, word = m.group(), tokens[i].word
        if text[m.end():m.end() + 1] in _NOT_HOUSE_AFTER or not (
                any(u in house for u in ("栋", "幢", "单元", "室", "号楼"))
                or word.endswith("村") and "组" in house or word.endswith(_ROADS) and "号" in house):
            continue  # 地铁3号线, 户数60户, 财政部87号令: numbers, not an address
        start = tokens[extend_left(tokens, i)].start
        if m.start() - start >= 2 and text[start:m.start()] not in lex.place_generic:
            out.append(Span(start, m.end(), "address"))
    taken = [(s.start, s.end) for s in out]
    for m in _HOUSE_ONLY.finditer(text):
        if all(m.end() <= a or m.start() >= b for a, b in taken):
            out.append(Span(m.start(), m.end(), "address"))
    return out
