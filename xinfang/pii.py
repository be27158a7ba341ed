"""Find and mask personal data (ID, phone, bank card, e-mail, names, addresses) in letters and logs."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from xinfang.chinese.lexicon import Lexicon, load_lexicon
from xinfang.chinese.names import person_names, post_spans
from xinfang.chinese.places import place_spans
from xinfang.chinese.segment import fold_width, pos_tokens

TAGS: dict[str, str] = {
    "id_number": "〔身份证号〕", "bank_card": "〔银行卡号〕", "phone": "〔手机号〕",
    "landline": "〔固定电话〕", "email": "〔邮箱〕", "account": "〔账号〕", "number": "〔号码〕",
    "address": "〔地址〕", "name": "〔姓名〕",
}
PII_TYPES: tuple[str, ...] = tuple(TAGS)  # also the priority order when spans overlap
NUMBER_TYPES = frozenset({"id_number", "bank_card", "phone", "landline", "email", "account", "number"})

_ID18 = re.compile(r"(?<![0-9])[1-8][0-9]{5}[ -]?(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])"
                   r"(?:0[1-9]|[12][0-9]|3[01])[ -]?[0-9]{3}[0-9Xx](?![0-9A-Za-z])")
_ID15 = re.compile(r"(?<![0-9])[1-8][0-9]{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}(?![0-9])")
_CARD = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){15,18}(?![0-9])")
_PHONE = re.compile(r"(?<![0-9])(?:(?:\+|00)?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]){8}(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(?:\(0[1-9][0-9]{1,2}\)|0[1-9][0-9]{1,2})[ -]?[2-9][0-9]{6,7}"
                       r"(?:(?:-|转)[0-9]{1,5})?(?![0-9])")
_LOCAL_LINE = re.compile(r"(?:电话|座机|固话|TEL|Tel|tel)[：:\s]*([2-9][0-9]{6,7})(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_ACCOUNT = re.compile(r"(?:QQ|qq|微信号|微信|VX|vx)[：:\s号是为]*"
                      r"([A-Za-z][A-Za-z0-9_-]{5,19}|[1-9][0-9]{4,11})(?![0-9A-Za-z])")
# Any other long number (a mistyped ID, an account): 12+ digits, single blanks or dashes allowed.
_LONG_DIGITS = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){11,}(?:[ -]?[Xx])?(?![0-9A-Za-z])")
_ADDRESS_CUE = re.compile(r"(?:家庭住址|联系地址|现住址|住址|地址|家住)[：:\s]*")
_STAMP = re.compile(r"((?:19|20)[0-9]{6})[-_T]([0-9]{6})")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One piece of personal data: its type and [start, end) in the original text (no copy of the value)."""

    type: str
    start: int
    end: int


def _valid_date(yyyymmdd: str) -> bool:
    try:
        day = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return dt.date(1880, 1, 1) <= day <= dt.date.today()


def valid_id18(number: str) -> bool:
    """GB 11643 check: 17 digits, a real birth date, and the mod-11 check character."""
    if len(number) != 18 or not number[:17].isdigit() or not _valid_date(number[6:14]):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == number[17].upper()


def valid_id15(number: str) -> bool:
    """Old 15-digit form (before 1999): digits only, birth date 19YYMMDD valid."""
    return len(number) == 15 and number.isdigit() and _valid_date("19" + number[6:12])


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) check used by bank card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit() or c in "Xx")


def _number_spans(text: str) -> list[PiiSpan]:
    out = [PiiSpan("id_number", m.start(), m.end()) for m in _ID18.finditer(text)
           if valid_id18(_digits(m.group()))]
    out += [PiiSpan("id_number", m.start(), m.end()) for m in _ID15.finditer(text) if valid_id15(m.group())]
    out += [PiiSpan("bank_card", m.start(), m.end()) for m in _CARD.finditer(text)
            if luhn_ok(_digits(m.group()))]
    for m in _PHONE.finditer(text):
        digits = _digits(m.group())
        if len(digits) - (2 if digits.startswith("86") else 4 if digits.startswith("0086") else 0) == 11:
            out.append(PiiSpan("phone", m.start(), m.end()))
    out += [PiiSpan("landline", m.start(), m.end()) for m in _LANDLINE.finditer(text)]
    out += [PiiSpan("landline", m.start(1), m.end(1)) for m in _LOCAL_LINE.finditer(text)]
    out += [PiiSpan("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    out += [PiiSpan("account", m.start(1), m.end(1)) for m in _ACCOUNT.finditer(text)]
    out += [PiiSpan("number", m.start(), m.end()) for m in _LONG_DIGITS.finditer(text)
            if not _is_timestamp(m.group())]
    return out


def _is_timestamp(number: str) -> bool:
    """A YYYYMMDD-HHMMSS stamp (model versions, file names) with a real date and time: not personal data."""
    m = _STAMP.fullmatch(number)
    if m is None:
        return False
    try:
        dt.datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S")
    except ValueError:
        return False
    return True


def _name_spans(text: str, lex: Lexicon) -> list[PiiSpan]:
    tokens = pos_tokens(text)
    posts = post_spans(text, lex, tokens)
    post_edges = {p.start for p in posts} | {p.end for p in posts}
    out = []
    for s in person_names(text, lex, tokens):
        if s.rule != "nr_weak" or s.end in post_edges or s.start in post_edges:
            out.append(PiiSpan("name", s.start, s.end))
    return out


def _address_spans(text: str, lex: Lexicon) -> list[PiiSpan]:
    out = [PiiSpan("address", s.start, s.end) for s in place_spans(text, lex) if s.rule == "address"]
    for m in _ADDRESS_CUE.finditer(text):
        end = m.end()
        while end < len(text) and end - m.end() < 40 and text[end] not in "，,。；;\n":
            end += 1
        if end - m.end() >= 4:
            out.append(PiiSpan("address", m.end(), end))
    return out


def resolve_overlaps(spans: Iterable[PiiSpan]) -> list[PiiSpan]:
    """Keep non-overlapping spans, preferring the type earlier in PII_TYPES, then the longer span."""
    rank = {t: i for i, t in enumerate(PII_TYPES)}
    taken: list[PiiSpan] = []
    for s in sorted(spans, key=lambda s: (rank.get(s.type, len(rank)), s.start - s.end, s.start)):
        if s.end > s.start and all(s.end <= t.start or s.start >= t.end for t in taken):
            taken.append(s)
    return sorted(taken, key=lambda s: s.start)


def find_pii(text: str, types: Collection[str] | None = None,
             lexicon: Lexicon | None = None) -> list[PiiSpan]:
    """Personal data in `text`, sorted and non-overlapping; `types` limits the search (names and
    addresses need jieba, the number types do not)."""
    if not text:
        return []
    wanted = frozenset(PII_TYPES if types is None else types)
    folded = fold_width(text)
    spans = [s for s in _number_spans(folded) if s.type in wanted]
    if wanted & {"name", "address"}:
        lex = lexicon or load_lexicon()
        if "address" in wanted:
            spans += _address_spans(folded, lex)
        if "name" in wanted:
            spans += _name_spans(folded, lex)
    return resolve_overlaps(spans)


def mask_pii(text: str, keep_length: bool = False, types: Collection[str] | None = None,
             spans: Iterable[PiiSpan] | None = None) -> str:
    """`text` with personal data replaced by tags (〔手机号〕) or, with keep_length, by as many '*'
    (offsets of other spans then stay valid). Pass `spans` to reuse a find_pii result."""
    found = resolve_overlaps(spans) if spans is not None else find_pii(text, types)
    parts: list[str] = []
    pos = 0
    for s in found:
        parts.append(text[pos:s.start])
        parts.append("*" * (s.end - s.start) if keep_length else TAGS.get(s.type, "〔隐私〕"))
        pos = s.end
    parts.append(text[pos:])
    return "".join(parts)


# --- logs: letter text must never reach them -----------------------------------------------------------

TEXT_FIELDS = frozenset({"text", "title", "body", "content", "letter", "message", "raw", "snippet"})
# Log redaction keeps ASCII (log structure, ids, codes, numbers once personal numbers are masked) and
# replaces every run of other script, whatever its length: a two-character name is personal data too.
# The tags this module writes are kept, so redacting twice changes nothing.
_TAG = "|".join(re.escape(t) for t in (*TAGS.values(), "〔隐私〕")) + r"|〔正文[0-9]+字〕"
_FOREIGN = rf"(?:(?!{_TAG})[^\x00-\x7f\s])"  # a non-ASCII, non-blank character that does not start a tag
# A run: from a foreign character to the last one, with ASCII digits, words and blanks between them.
_LOG_RUN = re.compile(rf"(?P<tag>{_TAG})|{_FOREIGN}(?:{_FOREIGN}|[ \t\xa0A-Za-z0-9.:_-]+(?={_FOREIGN}))*")


def _redact_run(m: re.Match[str]) -> str:
    return m.group() if m.group("tag") else f"〔正文{len(m.group())}字〕"


def redact_for_log(message: str) -> str:
    """A log-safe message: personal numbers masked (no jieba: cheap), then every run of non-ASCII text
    (Chinese of any length, with the digits and words inside it) replaced by its length, 〔正文N字〕."""
    return _LOG_RUN.sub(_redact_run, mask_pii(message, types=NUMBER_TYPES))


def text_fingerprint(text: str) -> str:
    """A short stable reference to a text for logs: its length and the start of its SHA-256."""
    return f"<{len(text)} chars sha256:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}>"


def safe_log_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Log-safe copy of structured fields: text-like keys become a fingerprint, other strings are redacted."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, str):
            out[key] = text_fingerprint(value) if key.lower() in TEXT_FIELDS else redact_for_log(value)
        else:
            out[key] = value
    return out


class RedactingFilter(logging.Filter):
    """A logging filter that passes each record's message and traceback through redact_for_log
    (attach it to handlers, so records from every logger are covered)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: drop its arguments rather than the record
            message = str(record.msg)
        record.msg, record.args = redact_for_log(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_for_log(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_for_log(record.stack_info)
        return True
