"""Regex and lexicon rules for times, amounts, evidence, first-hand and signed cues, and indicators."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from xinfang.chinese.lexicon import Lexicon, alternation
from xinfang.chinese.names import cue_names
from xinfang.chinese.segment import Token
from xinfang.chinese.span import Span

_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "○": 0, "O": 0, "o": 0}
_NOT_AFTER_NUM = "(?<![0-9.零〇一二三四五六七八九十百千万亿两几])"
_CN_NUM = "[零〇一二三四五六七八九十百千万亿两几]+"
_NUM = f"(?:[0-9]+(?:[.,][0-9]+)*|{_CN_NUM})"

_YEAR = "(?:[12一二][0-9〇零○Oo一二三四五六七八九]{3})年"
_MONTH = "(?:1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九]|正|腊)月份?"
_DAY = ("(?:[12][0-9]|3[01]|0?[1-9]|[二三]?十[一二三四五六七八九]?|[一二三四五六七八九]"
        "|初[一二三四五六七八九十])[日号]")
_PART = "(?:上旬|中旬|下旬|初|底|末|中)"
_DAYPART = "(?:凌晨|早上|早晨|上午|中午|下午|傍晚|晚上|夜里|夜间|半夜|深夜)"
_CLOCK = ("(?:(?:[0-9]{1,2}|[一二三四五六七八九十]{1,3})"
          "(?:[点时](?:半|(?:[0-9]{1,2}|[一二三四五十]{1,3})分)?)|[0-9]{1,2}[:：][0-9]{2})")
_TAIL = f"(?:\\s?{_DAYPART}?{_CLOCK}|{_DAYPART})?(?:左右|前后|许)?"
_NUMERIC_DATE = re.compile(r"(?<![0-9])(?:19|20)[0-9]{2}([-./])(?:1[0-2]|0?[1-9])\1"
                           r"(?:[12][0-9]|3[01]|0?[1-9])(?![0-9])[日号]?")

_MONEY_UNIT = "(?:元(?![旦化素件宵])|块钱|块(?![地田砖石板牌区玻屏肉])|圆|美元|港元|港币)"
_MONEY_WORDS = "(?:好处费|现金|红包|贿款|回扣|资金|补贴|补偿款|补偿|工程款|好处|款|钱)"
_PERCENT = re.compile(f"{_NOT_AFTER_NUM}(?:[0-9]+(?:\\.[0-9]+)?\\s?%|百分之[零一二三四五六七八九十百点]+)")
_AREA = re.compile(f"{_NOT_AFTER_NUM}{_NUM}(?:多|余)?亩(?:多)?")


@dataclass(frozen=True)
class _Patterns:
    time: re.Pattern[str]
    money: re.Pattern[str]
    gift: re.Pattern[str]
    money_context: re.Pattern[str]
    evidence_strong: re.Pattern[str]
    evidence_weak: re.Pattern[str]
    offering: re.Pattern[str]
    negation: re.Pattern[str]


@lru_cache(maxsize=4)
def _patterns(lex: Lexicon) -> _Patterns:
    anchor = alternation(lex.time_relative_anchor)
    alone = alternation(lex.time_relative_alone)
    qual = alternation(lex.time_qualifiers)
    time = "|".join([
        f"{_YEAR}(?:{_MONTH}(?:{_DAY}|{_PART})?|(?:{qual})(?:前后|期间|左右|的时候|前|后)?|{_PART})?{_TAIL}",
        f"(?<![0-9])[0-9]{{2}}年{_MONTH}(?:{_DAY}|{_PART})?{_TAIL}",
        f"(?:{anchor})的?(?:{_MONTH}(?:{_DAY}|{_PART})?|(?:{qual})(?:前后|期间|左右|的时候|前|后)?){_TAIL}",
        f"(?:{alone})(?:{_DAY})?{_TAIL}",
        f"上个?(?:周|星期|礼拜)[一二三四五六日天末]{_TAIL}",
        f"{_MONTH}(?:{_DAY}|{_PART}){_TAIL}",
        "(?<=[^0-9一二三四五六七八九十])(?:1[0-2]|[1-9]|十[一二]?|[一二三四五六七八九])月份",
    ])
    measures = "".join(sorted(set(lex.amount_measures)))
    return _Patterns(
        time=re.compile(f"{_NOT_AFTER_NUM}(?:{time})"),
        money=re.compile("|".join([
            f"{_NOT_AFTER_NUM}(?:人民币)?{_NUM}(?:多|余|来)?(?:[万千百亿]|万多|千多)?(?:多|余)?{_MONEY_UNIT}",
            f"人民币{_NUM}(?:多|余)?[万千百亿]?",
            f"{_NOT_AFTER_NUM}{_NUM}(?:多|余)?[万千百亿](?:多|余)?的?{_MONEY_WORDS}",
        ])),
        gift=re.compile(f"{_NOT_AFTER_NUM}(?:[0-9]+|[一二三四五六七八九十两几]+)[{measures}][\u4e00-\u9fff]{{0,3}}?"
                        f"(?:{alternation(lex.amount_items)})"),
        money_context=re.compile(alternation(lex.money_context)),
        evidence_strong=re.compile(alternation(lex.evidence_strong)),
        evidence_weak=re.compile(alternation(lex.evidence_weak)),
        offering=re.compile(alternation(lex.evidence_offering)),
        negation=re.compile(f"(?:{alternation(lex.negations)})[\u4e00-\u9fff]{{0,6}}$"),
    )


def _year_ok(text: str) -> bool:
    digits = "".join(str(_CN_DIGITS.get(c, c)) for c in text[:4])
    return digits.isdigit() and 1949 <= int(digits) <= 2099


def time_spans(text: str, lex: Lexicon) -> list[Span]:
    """Dates and times: 2019年3月, 3月5日, 去年春节前, 上个月十号, 2015-9-1."""
    out = []
    for m in _patterns(lex).time.finditer(text):
        s, e = m.span()
        frag = m.group()
        if frag[4:5] == "年" and frag[0] in "12一二" and not _year_ok(frag):
            continue
        out.append(Span(s, e, "date"))
    out.extend(Span(m.start(), m.end(), "numeric_date") for m in _NUMERIC_DATE.finditer(text))
    return out


def amount_spans(text: str, lex: Lexicon) -> list[Span]:
    """Money (5万元, 一千多块), gifts (两条烟), kickback shares (30%回扣) and land (三亩多)."""
    p = _patterns(lex)
    out = []
    for m in p.money.finditer(text):
        frag = m.group().removeprefix("人民币")
        if frag.startswith("几"):
            continue  # 几万元: vague
        if frag[:1] in "一二三四五六七八九两" and frag[1:2] == "块" and not frag.startswith("块钱", 1):
            continue  # 一块 (地): one piece, not one yuan
        out.append(Span(m.start(), m.end(), "money"))
    for m in p.gift.finditer(text):
        if not m.group().startswith("几"):
            out.append(Span(m.start(), m.end(), "gift"))
    for m in _PERCENT.finditer(text):
        after = p.money_context.match(text, m.end())
        if after:
            out.append(Span(m.start(), after.end(), "percent"))
        elif p.money_context.search(text, max(0, m.start() - 8), m.start()):
            out.append(Span(m.start(), m.end(), "percent"))
    for m in _AREA.finditer(text):
        if not m.group().startswith("几"):
            out.append(Span(m.start(), m.end(), "area"))
    return out


def _negated(text: str, start: int, lex: Lexicon) -> bool:
    return _patterns(lex).negation.search(text, max(0, start - 10), start) is not None


def evidence_spans(text: str, lex: Lexicon, tokens: tuple[Token, ...]) -> list[Span]:
    """Material cited or offered (照片, 录音, 转账记录); 合同 or 短信 only with an offering word nearby.

    A cue must start and end on word boundaries (保证人民路 holds no 证人) and not follow a negation.
    """
    p = _patterns(lex)
    edges = {t.start for t in tokens} | {t.end for t in tokens}

    def ok(m: re.Match[str]) -> bool:
        return m.start() in edges and m.end() in edges and not _negated(text, m.start(), lex)

    out = [Span(m.start(), m.end(), "evidence") for m in p.evidence_strong.finditer(text) if ok(m)]
    for m in p.evidence_weak.finditer(text):
        if not ok(m):
            continue
        near = text[max(0, m.start() - 8):m.start()] + "|" + text[m.end():m.end() + 6]
        if p.offering.search(near):
            out.append(Span(m.start(), m.end(), "evidence_offered"))
    return out


def cue_spans(text: str, lex: Lexicon, type_: str) -> list[Span]:
    """Matches of one lexicon cue family (hearsay, threat, first_hand, …)."""
    return [Span(m.start(), m.end(), type_) for m in lex.cues[type_].finditer(text) if m.end() > m.start()]


# Cues after which a name is the writer's own (not 当事人 or 名叫, which may name anyone).
_SELF_CUES = frozenset({"实名举报人", "举报人", "反映人", "投诉人", "来信人", "署名", "联系人", "姓名",
                        "本人", "我叫"})
_CONTACT_CUE = re.compile(r"(?:联系电话|联系方式|手机号码|手机号|电话号码|手机|电话|座机|邮箱|电子邮箱"
                          r"|身份证号码|身份证号|身份证)"
                          r"(?:是|为)?[：:\s]*$")
_ADDRESS_CUE = re.compile(r"(?:家庭住址|联系地址|现住址|住址|地址|家住)[：:\s]*")
_SIGNATURE_LINE = re.compile(r"^\s*(?:举报人|反映人|投诉人|来信人|署名)?[：:\s]*([\u4e00-\u9fff]{2,4})\s*"
                             r"(?:[0-9]{4}[年.\-/].*)?$")


def signed_spans(text: str, lex: Lexicon, tokens: tuple[Token, ...], contacts: list[Span]) -> list[Span]:
    """The writer identifies themself: 实名举报, 举报人：张三, a phone or ID number, a signature line.

    `contacts` are phone, e-mail and ID-number spans (from xinfang.pii); one counts when a contact
    cue (联系电话：) precedes it or it lies in the last third of the letter.
    """
    out = cue_spans(text, lex, "signed")
    out.extend(Span(s.start, s.end, "self_name") for s in cue_names(text, lex, tokens)
               if s.rule.removeprefix("cue_name:") in _SELF_CUES)
    tail_from = min(len(text) * 2 // 3, max(0, len(text) - 150))
    for c in contacts:
        cue = _CONTACT_CUE.search(text, max(0, c.start - 12), c.start)
        if cue:
            out.append(Span(cue.start(), c.end, "contact"))
        elif c.start >= tail_from:
            out.append(Span(c.start, c.end, "contact"))
    for m in _ADDRESS_CUE.finditer(text, tail_from):
        end = m.end()
        while end < len(text) and end - m.end() < 40 and text[end] not in "，,。；;\n":
            end += 1
        if end - m.end() >= 4:
            out.append(Span(m.start(), end, "address"))
    lines = [(m.start(), m.group()) for m in re.finditer(r"[^\n]+", text)]
    by_start = {t.start: t for t in tokens}
    for start, line in lines[-3:] if len(lines) > 1 else []:
        sig = _SIGNATURE_LINE.match(line)
        if not sig or not lex.is_surname_start(sig.group(1)) or sig.group(1) in lex.not_names:
            continue
        s, e = start + sig.start(1), start + sig.end(1)
        tok = by_start.get(s)
        if tok is not None and tok.end == e and not tok.flag.startswith("nr"):
            continue  # 谢谢, 敬礼: a word, not a name
        out.append(Span(s, e, "signature_line"))
    return out
