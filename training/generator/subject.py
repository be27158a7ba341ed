"""The accused (a person, unit or company): first description, later references, and gangs."""

from __future__ import annotations

from dataclasses import dataclass
from random import Random
from typing import Any

from xinfang.training.generator import fillers as F
from xinfang.training.generator.segments import Segment

GANG_ANAPHORS = ("他们", "这伙人", "这帮人", "他们一伙")
GANG_VAGUE = ("一帮社会上的混混", "当地一伙地痞", "几个村霸", "一伙社会闲散人员", "那帮黑恶势力", "一伙外地来的人")


@dataclass
class Subject:
    """The accused: how they are first described, and how later mentions refer to them."""

    kind: str
    spec: dict[str, Any]
    post: str
    name: str | None
    named: bool
    description: str
    mentioned: bool = False

    def mention(self, rng: Random, full: bool = False) -> list[Segment]:
        """First mention (or ``full``): the whole description; later ones: a name or an anaphor.

        The description and the name are named_subject spans only when the subject is identifiable."""
        if full or not self.mentioned:
            self.mentioned = self.mentioned or not full
            return [Segment(self.description, "named_subject" if self.named else None)]
        if self.named and self.name and rng.random() < 0.3:
            return [Segment(self.name, "named_subject")]
        ref = rng.choice(self.spec["anaphor"] if self.named else self.spec["anaphor_vague"])
        if "{post}" in ref:
            ref = ref.replace("{post}", self.post) if self.post else "他"
        return [Segment(ref)]


def make_subject(rng: Random, lex: dict[str, Any], kind: str, named: bool) -> Subject:
    """Draw the accused of a letter for a unit kind; ``named`` decides whether they are identifiable."""
    spec = lex["unit_kinds"][kind]
    unit = F.expand(rng, lex, rng.choice(spec["units"]))
    styles = lex["accused_name_styles"]
    patterns = lex["named_patterns"]
    name: str | None = None
    post = ""
    if kind == "private":
        name = F.person_name(rng, lex, styles)
        pattern = rng.choice(spec["with_name"])
    elif spec.get("unit_named") and rng.random() < 0.7:
        pattern = rng.choice(patterns["unit_only"])
    elif spec["top"] and rng.random() < 0.5:
        post = rng.choice(spec["top"])
        if rng.random() < 0.6:
            name = F.person_name(rng, lex, styles)
            pattern = rng.choice(patterns["with_name"])
        else:
            pattern = rng.choice(patterns["top_only"])
    else:
        post = rng.choice(spec["other"])
        name = F.person_name(rng, lex, styles)
        pattern = rng.choice(patterns["with_name"])
    if named:
        description = pattern.format(unit=unit, post=post, name=name or "")
    else:
        name = None
        if spec.get("vague"):
            description = rng.choice(spec["vague"])
        else:
            description = rng.choice(lex["vague_patterns"]).format(
                short=rng.choice(spec["short"]), vpost=rng.choice(spec["vpost"]))
    return Subject(kind=kind, spec=spec, post=post, name=name, named=named, description=description)


def make_gang(rng: Random, lex: dict[str, Any], named: bool) -> list[Segment]:
    """A gang's first description; its leader's name (with any nickname) is a named_subject span."""
    if not (named and rng.random() < 0.85):
        return [Segment(rng.choice(GANG_VAGUE))]
    name = F.person_name(rng, lex, lex["accused_name_styles"])
    form = rng.randrange(4)
    if form == 0:
        segs = [Segment("以"), Segment(name, "named_subject"), Segment(rng.choice(["为首的一伙人", "为首的团伙"]))]
    elif form == 1:
        segs = [Segment(f"外号“{rng.choice(lex['nicknames'])}”的{name}", "named_subject"),
                Segment(rng.choice(["一伙", "那帮人", ""]))]
    elif form == 2:
        segs = [Segment(rng.choice(["村霸", "恶霸", "社会大哥"])), Segment(name, "named_subject"),
                Segment(rng.choice(["等人", "一伙", "兄弟几个"]))]
    else:
        segs = [Segment(name, "named_subject"), Segment(rng.choice(["和他手下的一帮人", "团伙", "等人"]))]
    return [s for s in segs if s.text]
