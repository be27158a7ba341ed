"""Person names, posts and organisations in a letter, and the named subjects they form."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from xinfang.chinese.lexicon import Lexicon, alternation
from xinfang.chinese.segment import Token, extend_left, pos_tokens, word_freq
from xinfang.chinese.span import Span

_CJK = re.compile(r"[\u4e00-\u9fff]")
# Characters after which a name candidate of 2 chars is not extended to 3 (李四说, 张三的).
_STOP_CHARS = frozenset("的了和与及在是说把被给对向将也都就又还有要去来到让叫等们为从跟同并而或"
                        "但才已曾再很太更最不没未过着呢吗吧啊呀啦这那个其他她它我你您")
# Words that may follow a name introduced by a cue: 本人张三是…, 举报人李四，男…
_AFTER_NAME = ("是", "的", "系", "男", "女", "现", "住", "家住", "身份", "电话", "联系", "手机", "今年",
               "年龄", "性别", "为", "在", "于", "原", "向", "特", "实名", "反映", "举报", "投诉", "同志",
               "先生", "女士")
_SALUTATION_AFTER = re.compile(r"^[\s，,！!：:]{0,2}(?:您好|你好|同志您好)|^[\s]*[：:]|^您")
_NUMERAL_CHARS = frozenset("零〇一二三四五六七八九十百千万亿两几")
# Last characters of place and family words that jieba tags as names: 刘家, 金润村, 雷高路.
_PLACE_END = frozenset("家村庄湾冲坪塘岭寨桥巷路街镇乡区县市省局院所站队厂店园")
# jieba's dictionary tags many common words `nr` (谢谢, 高昂, 许可证); real names in letters are rare words.
NAME_FREQ_MAX = 300
STRONG_NAME_FREQ_MAX = 30


@dataclass(frozen=True)
class _Patterns:
    post: re.Pattern[str]
    masked: re.Pattern[str]
    cue: re.Pattern[str]


@lru_cache(maxsize=4)
def _patterns(lex: Lexicon) -> _Patterns:
    surnames = "".join(sorted(lex.surnames))
    compounds = alternation(lex.compound_surnames)
    surname = f"(?:{compounds}|[{surnames}])" if compounds else f"[{surnames}]"
    return _Patterns(
        post=re.compile(alternation(lex.posts)),
        masked=re.compile(f"{surname}(?:{alternation(lex.placeholders)})"),
        cue=re.compile(f"(?:{alternation(lex.name_cues)})[：:\\s]*"),
    )


def _token_ends(tokens: tuple[Token, ...]) -> set[int]:
    return {t.end for t in tokens}


def post_spans(text: str, lex: Lexicon, tokens: tuple[Token, ...]) -> list[Span]:
    """Posts (副主任, 局长, 村支书) that end where a jieba word ends (so 高校长期 holds no 校长)."""
    ends = _token_ends(tokens)
    return [Span(m.start(), m.end(), "post") for m in _patterns(lex).post.finditer(text) if m.end() in ends]


def _starts_post(text: str, pos: int, lex: Lexicon) -> bool:
    return _patterns(lex).post.match(text, pos) is not None


def _starts_unit(text: str, pos: int, lex: Lexicon) -> bool:
    return any(text.startswith(s, pos) for s in lex.unit_suffixes)


def masked_names(text: str, lex: Lexicon) -> list[Span]:
    """Surname plus placeholder: 王某某, 李某, 张XX; not 向某某局 (a unit after a preposition)."""
    out = []
    for m in _patterns(lex).masked.finditer(text):
        s, e = m.span()
        if _starts_post(text, e, lex):
            out.append(Span(s, e, "masked_name"))
            continue
        if _starts_unit(text, e, lex):
            continue  # 某某局, 某某村: an organisation
        if text[s] in lex.ambiguous_surnames and s > 0 and _CJK.match(text[s - 1]):
            continue
        out.append(Span(s, e, "masked_name"))
    return out


def _is_name_word(word: str, lex: Lexicon) -> bool:
    if len(word) == 4 and word[:2] not in lex.compound_surnames:
        return False  # 严肃处理, 严格执法
    return (2 <= len(word) <= 4 and all(_CJK.match(c) for c in word) and lex.is_surname_start(word)
            and word not in lex.not_names and "某" not in word and word[-1] not in _PLACE_END)


def jieba_names(text: str, lex: Lexicon, tokens: tuple[Token, ...]) -> list[Span]:
    """jieba `nr` words that look like names (a known surname, 2 to 4 Chinese characters, a rare word).

    rule "nr" for a rare word with a common surname, "nr_weak" otherwise (keep it only next to a post).
    A 2-character name followed by one loose character and then a post or punctuation is taken as a
    3-character name that jieba split (曾芳/令 老师).
    """
    out = []
    for i, t in enumerate(tokens):
        if not t.flag.startswith("nr") or not _is_name_word(t.word, lex):
            continue
        freq = word_freq(t.word)
        if freq >= NAME_FREQ_MAX:
            continue  # a common word that jieba's dictionary calls a name
        if t.start > 0 and (text[t.start - 1].isdigit() or text[t.start - 1] in _NUMERAL_CHARS):
            continue  # 40余人, 14周前: a count, not a name
        place_next = _starts_unit(text, t.end, lex) or text[t.end:t.end + 1] in _PLACE_END
        if place_next and not _starts_post(text, t.end, lex):
            continue  # 蔡娥路, 张家村: a place named after someone
        end = t.end
        if len(t.word) == 2 and i + 1 < len(tokens):
            nxt = tokens[i + 1]
            after = tokens[i + 2].start if i + 2 < len(tokens) else len(text)
            loose = len(nxt.word) == 1 and _CJK.match(nxt.word) and nxt.word not in _STOP_CHARS
            closed = after == len(text) or not _CJK.match(text[after]) or _starts_post(text, after, lex)
            if loose and closed:
                end = nxt.end
        common = t.word[0] in lex.standalone_surnames or t.word[:2] in lex.compound_surnames
        strong = common and freq < STRONG_NAME_FREQ_MAX and t.word[0] not in lex.ambiguous_surnames
        out.append(Span(t.start, end, "nr" if strong else "nr_weak"))
    return out


def split_names(text: str, lex: Lexicon, tokens: tuple[Token, ...]) -> list[Span]:
    """Names the segmenter cut into single characters, found by the post after them: 张/三/局长."""
    out = []
    for i, t in enumerate(tokens):
        if len(t.word) != 1 or t.word not in lex.surnames or t.word in lex.ambiguous_surnames:
            continue
        for k in (1, 2):
            rest = tokens[i + 1:i + 1 + k]
            if len(rest) < k or any(len(r.word) != 1 or not _CJK.match(r.word) or r.word in _STOP_CHARS
                                    for r in rest):
                break
            end = rest[-1].end
            prev = tokens[i - 1].word if i else ""
            if _starts_post(text, end, lex) and (not prev or not _CJK.match(prev[-1]) or len(prev) > 1
                                                 or prev in _STOP_CHARS):
                out.append(Span(t.start, end, "split_name"))
                break
    return out


def cue_names(text: str, lex: Lexicon, tokens: tuple[Token, ...]) -> list[Span]:
    """Names introduced by a cue: 举报人：张三, 本人李四，我叫王五."""
    starts = {t.start: t for t in tokens}
    out = []
    for m in _patterns(lex).cue.finditer(text):
        s = m.end()
        run = 0
        while s + run < len(text) and run < 5 and _CJK.match(text[s + run]):
            run += 1
        if run < 2:
            continue
        length = 0
        for n in (2, 3):
            if n < run and text.startswith(_AFTER_NAME, s + n):
                length = n
                break
        if not length and run <= 3:
            length = run
        cand = text[s:s + length]
        if not length or not lex.is_surname_start(cand) or cand in lex.not_names or cand[1] in _STOP_CHARS:
            continue
        if cand[0] in lex.ambiguous_surnames:
            continue
        tok = starts.get(s)
        if tok is not None and tok.end == s + length and not tok.flag.startswith("nr"):
            continue  # one dictionary word that is not a name: 本人同意
        out.append(Span(s, s + length, "cue_name:" + m.group().rstrip("：: \t\n")))
    return out


def surname_post_names(text: str, lex: Lexicon, tokens: tuple[Token, ...], posts: list[Span]) -> list[Span]:
    """A lone surname right before a post: 王局长, 柳所长 (the surname character only)."""
    by_end = {t.end: t for t in tokens}
    out = []
    for p in posts:
        t = by_end.get(p.start)
        if (t is not None and len(t.word) == 1 and t.word in lex.surnames
                and t.word not in lex.ambiguous_surnames):
            out.append(Span(t.start, t.end, "surname_post"))
    return out


def person_names(text: str, lex: Lexicon, tokens: tuple[Token, ...] | None = None) -> list[Span]:
    """Every name-like span: masked names, cue names, jieba names, surnames before a post."""
    tokens = pos_tokens(text) if tokens is None else tokens
    posts = post_spans(text, lex, tokens)
    spans = (masked_names(text, lex) + cue_names(text, lex, tokens) + jieba_names(text, lex, tokens)
             + split_names(text, lex, tokens) + surname_post_names(text, lex, tokens, posts))
    return spans


def unit_spans(text: str, lex: Lexicon, tokens: tuple[Token, ...]) -> list[Span]:
    """Organisations: a word ending in 局/村/公司/街道办… with the nouns before it (K3县公安局, 某街道办).

    rule "unit" when the name is specific (has a proper-noun part), "area" for a specific village, town
    or street (白竹坪村), "unit_generic" otherwise (村, 政府).
    """
    out: list[Span] = []
    for i, t in enumerate(tokens):
        if t.flag[:1] in "vdpcuxrfl" and t.word[:1] != "某" or t.word in lex.not_units:
            continue
        suffix = next((s for s in lex.unit_suffixes if t.word.endswith(s)), None)
        if suffix is None or t.flag.startswith("nr"):
            continue
        if suffix in lex.unit_weak_suffixes and len(t.word) < 3 and t.flag != "nt":
            continue  # 全部, 之处, 头部
        if _starts_post(text, t.start, lex) and _patterns(lex).post.match(text, t.start).end() == t.end:
            continue  # the word is itself a post (村主任)
        j = extend_left(tokens, i)
        start = tokens[j].start
        if out and out[-1].end >= start:  # 城管局执法大队: one unit
            start = out.pop().start
        chunk = text[start:t.end]
        specific = chunk not in lex.unit_generic and (
            j < i and any(specific_part(tokens[k], lex) for k in range(j, i))
            or (t.flag in ("nt", "nz", "ns") and len(t.word) >= 4))
        area = any(t.word.endswith(a) for a in lex.unit_areas)
        out.append(Span(start, t.end, ("area" if area else "unit") if specific else "unit_generic"))
    return out


def specific_part(t: Token, lex: Lexicon) -> bool:
    if t.word[:1] == "某" or t.flag in ("ns", "nz", "nt", "eng", "j") or t.flag.startswith("nr"):
        return True
    if any(c.isascii() and c.isalnum() for c in t.word):
        return True
    return t.flag == "n" and len(t.word) >= 2 and t.word not in lex.unit_generic


def is_addressee(text: str, start: int, end: int, lex: Lexicon) -> bool:
    """尊敬的易书记, 陈书记您好: the person the letter is addressed to, not the one it accuses."""
    before = text[max(0, start - 4):start]
    if any(before.endswith(c) for c in lex.addressee_cues):
        return True
    if _SALUTATION_AFTER.match(text[end:end + 8]):
        return True
    line_start = text.rfind("\n", 0, start) + 1
    return start - line_start <= 6 and text[end:end + 1] in ("，", ",", "！", "!", "：", ":")


def named_subjects(text: str, lex: Lexicon, tokens: tuple[Token, ...] | None = None) -> list[Span]:
    """Identifiable people or units: 某街道办副主任王某某, 张三局长, 李某某, K3县公安局.

    Rules: person_post (a name next to a post, with its unit if any), unit_post (某镇副镇长),
    unit_person (加油站唐某某), masked_name (王某某 alone), unit (a specific organisation name).
    Salutations (尊敬的陈书记) are skipped.
    """
    tokens = pos_tokens(text) if tokens is None else tokens
    posts = post_spans(text, lex, tokens)
    names = (masked_names(text, lex) + jieba_names(text, lex, tokens) + split_names(text, lex, tokens)
             + surname_post_names(text, lex, tokens, posts))
    names += [n for n in cue_names(text, lex, tokens)
              if not any(n.start < m.end and m.start < n.end for m in names)]
    name_by_end = {n.end: n for n in names}
    name_by_start = {n.start: n for n in names}
    units = unit_spans(text, lex, tokens)
    unit_by_end = {u.end: u for u in units}
    post_by_start = {p.start: p for p in posts}
    out: list[Span] = []
    for p in posts:
        start, end = p.start, p.end
        left, right = name_by_end.get(start), name_by_start.get(end)
        if left is not None:
            start = left.start
        unit = unit_by_end.get(start)
        if unit is not None and text[unit.start:unit.end] in lex.unit_vague:
            unit = None
        if unit is not None:
            start = unit.start
        if right is not None:
            end = right.end
            again = post_by_start.get(end)
            if again is not None:  # 班主任曾某某老师
                end = again.end
        if left is None and right is None and unit is None:
            continue
        if is_addressee(text, start, end, lex):
            continue
        out.append(Span(start, end, "person_post" if (left or right) else "unit_post"))
    for n in names:
        unit = unit_by_end.get(n.start)
        if unit is not None and unit.rule in ("unit", "area") and n.rule in ("nr", "masked_name"):
            out.append(Span(unit.start, n.end, "unit_person"))
        elif n.rule == "masked_name":
            out.append(n)
    out.extend(u for u in units if u.rule == "unit")
    return out
