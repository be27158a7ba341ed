"""One letter for the page: its text in segments (personal data masked unless allowed, evidence marked) and
each head's answer with confidence, the human label and the classes a reviewer can set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xinfang.pii import TAGS, find_pii
from xinfang.result import CREDIBILITY_HEAD, MALICIOUS_HEAD
from xinfang.schema import Head, HeadKind, Schema
from xinfang.serving.review.answers import label_text, model_value, same_label
from xinfang.serving.review.models import ReviewCorrection, ReviewLetter


@dataclass
class Segment:
    """A piece of the letter: text (or a personal-data tag), and the evidence types that cover it."""

    text: str
    marks: list[str] = field(default_factory=list)
    kind: str = ""  # "cred", "mal" or "" (no evidence); "pii" for a masked tag

    @property
    def title(self) -> str:
        return ", ".join(self.marks)


@dataclass
class HeadView:
    head: Head
    model: Any
    model_text: str
    confidence: float | None
    human: Any
    human_text: str
    human_from: str  # "correction by <reviewer> at <time>", "input file" or ""
    disagrees: bool
    options: list[tuple[str, str]]  # (value as sent by the form, label)


def _evidence(result: dict[str, Any]) -> list[tuple[int, int, str, str]]:
    """(start, end, type, kind) of the credibility spans and malicious indicators that point into the text."""
    out = []
    for head, key, kind in ((CREDIBILITY_HEAD, "signals", "cred"), (MALICIOUS_HEAD, "indicators", "mal")):
        for s in (result.get(head) or {}).get(key) or []:
            if int(s.get("start", -1)) >= 0 and int(s.get("end", -1)) > int(s["start"]):
                out.append((int(s["start"]), int(s["end"]), str(s.get("type", "")), kind))
    return out


def segments(text: str, result: dict[str, Any], unmasked: bool) -> list[Segment]:
    """The text cut where evidence or personal data starts or ends; masked personal data becomes its tag."""
    evidence = [e for e in _evidence(result) if e[1] <= len(text)]
    pii = [] if unmasked else find_pii(text)
    cuts = sorted({0, len(text), *(e[0] for e in evidence), *(e[1] for e in evidence),
                   *(p.start for p in pii), *(p.end for p in pii)})
    out: list[Segment] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        marks = [e for e in evidence if e[0] <= a and b <= e[1]]
        kind = "mal" if any(e[3] == "mal" for e in marks) else "cred" if marks else ""
        hidden = next((p for p in pii if p.start <= a and b <= p.end), None)
        if hidden is not None:
            if a == hidden.start:
                out.append(Segment(TAGS.get(hidden.type, "〔隐私〕"), [e[2] for e in marks], "pii"))
            continue
        out.append(Segment(text[a:b], [e[2] for e in marks], kind))
    return out


def indicators(result: dict[str, Any]) -> list[str]:
    """Malicious indicators as text, near-copies included (they point at no text)."""
    out = []
    for s in (result.get(MALICIOUS_HEAD) or {}).get("indicators") or []:
        if s.get("type") == "near_duplicate":
            out.append(f"near_duplicate: {s.get('count')} 份相似来信"
                       + ("（同一提交人）" if s.get("same_submitter") else ""))
        else:
            out.append(str(s.get("type")))
    return out


def _options(head: Head) -> list[tuple[str, str]]:
    if head.kind is HeadKind.binary:
        return [("0", "否 (0)"), ("1", "是 (1)")]
    return [(c.id, f"{c.zh} ({c.id})") for c in head.classes]


def head_views(schema: Schema, letter: ReviewLetter, current: list[ReviewCorrection]) -> list[HeadView]:
    corrected = {c.head: c for c in current}
    given = letter.given_labels or {}
    views = []
    for head in schema.heads:
        answer = letter.result.get(head.name) or {}
        model = model_value(head, answer)
        if head.name in corrected:
            c = corrected[head.name]
            human, origin = c.value, f"{c.reviewer} · {c.created_at:%Y-%m-%d %H:%M} UTC · {c.action}"
        elif head.name in given:
            human, origin = given[head.name], "输入文件 (input file)"
        else:
            human, origin = None, ""
        views.append(HeadView(
            head=head, model=model, model_text=label_text(head, model), confidence=answer.get("confidence"),
            human=human, human_text=label_text(head, human) if human is not None else "",
            human_from=origin, disagrees=human is not None and not same_label(head, human, model),
            options=_options(head)))
    return views
