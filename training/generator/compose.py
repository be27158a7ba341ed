"""Renders a plan into letter segments: picks templates, fills slots, records spans and template ids."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from random import Random
from typing import Any

from xinfang.training.generator import fillers as F
from xinfang.training.generator.catalog import Template
from xinfang.training.generator.layout import lay_out
from xinfang.training.generator.plan import OUT_OF_SCOPE, Plan
from xinfang.training.generator.quantities import amount_phrase, time_phrase, vague_amount, vague_time
from xinfang.training.generator.resources import Resources
from xinfang.training.generator.segments import Segment, as_span, merge
from xinfang.training.generator.subject import GANG_ANAPHORS, Subject, make_gang, make_subject
from xinfang.training.generator.template import Slot, render

SUBJECT_SLOTS = frozenset({"S", "U", "POST"})
Action = tuple[Any, ...]


@dataclass
class Composition:
    """A rendered letter before noise: its segments, the templates used and the topics of its problems."""

    segments: list[Segment]
    template_ids: list[str]
    topics: list[str]
    primary: str


class Composer:
    """Builds one letter from a plan, drawing templates from one half (train or test) of the catalog."""

    def __init__(self, rng: Random, res: Resources, side: str, plan: Plan):
        self.rng = rng
        self.lex = res.lex
        self.cfg = res.config
        self.catalog = res.catalog
        self.side = side
        self.plan = plan
        self.intents = dict(plan.intents)
        self.ids: list[str] = []
        self.families_used: set[str] = set()
        self.realized: set[str] = set()
        self.counts: dict[str, int] = {}
        self.subject: Subject | None = None
        self.kind = "none"
        self.gang: list[Segment] | None = None
        self.signer = F.person_name(rng, self.lex, {"full": 1.0})
        self.partial_hearsay = "partial_hearsay" in plan.weak
        self.terse = plan.verbosity == "terse"
        self.slots: dict[str, Callable[[str], list[Segment]]] = {
            "S": self._s, "G": self._g, "H": self._h, "T": self._t, "P": self._p, "A": self._a, "V": self._v,
            "E": self._e, "R": lambda a: [Segment(rng.choice(self.lex["relatives"]))],
            "N": lambda a: [Segment(F.person_name(rng, self.lex, self.lex["other_name_styles"]))],
            "C": lambda a: [Segment(F.company(rng, self.lex, a))],
            "J": lambda a: [Segment(F.project(rng, self.lex, a))],
            "B": lambda a: [Segment(rng.choice(self.lex["benefits"]))],
            "U": self._u, "POST": self._post, "AREA": lambda a: [Segment(rng.choice(self.lex["areas"]))],
            "SELF": self._self, "NAME": lambda a: [Segment(self.signer, "signed")],
            "PHONE": lambda a: [Segment(F.phone(rng, self.lex), "signed")],
            "IDNO": lambda a: [Segment(F.id_number(rng, self.lex), "signed")],
            "ADDR": lambda a: [Segment(F.address(rng, self.lex), "signed")],
        }

    # ----------------------------------------------------------------- templates
    def _usable(self, t: Template) -> bool:
        return self.subject is not None or not (t.slots & SUBJECT_SLOTS)

    def _pick(self, family: str, reuse: bool = True) -> Template | None:
        """A template of the family, preferring ones not yet used in this letter (None: none left)."""
        pool = [t for t in self.catalog.pool(family, self.side) if self._usable(t)]
        fresh = [t for t in pool if t.id not in self.ids]
        pool = fresh if fresh or not reuse else pool
        if not pool:
            return None
        t = self.rng.choice(pool)
        if t.id not in self.ids:
            self.ids.append(t.id)
        self.families_used.add(family)
        return t

    def _render(self, t: Template) -> list[Segment]:
        out: list[Segment] = []
        render(self.rng.choice(t.variants), self.rng, self._fill, out)
        if t.span:
            out = as_span(out, t.span)
        self.realized.update(s.span for s in out if s.span)
        return out

    def _family(self, family: str, end: str = "", reuse: bool = True) -> list[Segment]:
        t = self._pick(family, reuse)
        if t is None:
            return []
        out = self._render(t)
        return out + [Segment(end)] if end and out else out

    def _fill(self, slot: Slot) -> list[Segment]:
        out = self.slots[slot.name](slot.arg)
        self.realized.update(s.span for s in out if s.span)
        return out

    # ----------------------------------------------------------------- slots
    def _specific(self, signal: str) -> bool:
        if not self.intents[signal]:
            return False
        n = self.counts[signal] = self.counts.get(signal, 0) + 1
        return n == 1 or self.rng.random() < self.cfg["repeat_specific_prob"]

    def _s(self, arg: str) -> list[Segment]:
        if self.subject is None:
            return [Segment("对方")]
        return self.subject.mention(self.rng, full=arg == "full")

    def _g(self, arg: str) -> list[Segment]:
        if self.gang is None:
            self.gang = make_gang(self.rng, self.lex, self.intents["named_subject"])
            return list(self.gang)
        if self.rng.random() < 0.5:
            return [Segment(self.rng.choice(GANG_ANAPHORS))]
        return list(self.gang)

    def _h(self, arg: str) -> list[Segment]:
        rng = self.rng
        if self.intents["first_hand"] and ("first_hand" not in self.realized and rng.random() < 0.7
                                           or rng.random() < 0.2):
            return self._family("firsthand_prefix")
        if "hearsay" in self.plan.strong and rng.random() < 0.7:
            return self._family("hearsay_prefix")
        if self.partial_hearsay and rng.random() < 0.6:
            self.partial_hearsay = False
            return self._family("hearsay_prefix")
        neutral = rng.choice(self.lex["provenance_neutral"])
        return [Segment(neutral)] if neutral else []

    def _t(self, arg: str) -> list[Segment]:
        if self._specific("specific_time"):
            return [Segment(time_phrase(self.rng, self.lex), "specific_time")]
        v = vague_time(self.rng, self.lex)
        return [Segment(v)] if v else []

    def _p(self, arg: str) -> list[Segment]:
        if arg in ("", "here"):
            arg = self.rng.choice(self.lex["unit_places"][self.kind])
        if self._specific("specific_place"):
            prefix, where = F.place(self.rng, self.lex, arg)
            return [Segment(prefix), Segment(where, "specific_place")]
        v = F.vague_place(self.rng, self.lex, arg)
        return [Segment(v)] if v else []

    def _a(self, arg: str) -> list[Segment]:
        if self._specific("specific_amount"):
            return [Segment(amount_phrase(self.rng, self.lex, arg), "specific_amount")]
        return [Segment(vague_amount(self.rng, self.lex, arg))]

    def _v(self, arg: str) -> list[Segment]:
        victims = self.lex["victims"][arg or "resident"]
        if self.intents["first_hand"] and ("first_hand" not in self.realized or self.rng.random() < 0.5) \
                and self.rng.random() < 0.8:
            return [Segment(self.rng.choice(victims["first"]), "first_hand")]
        return [Segment(self.rng.choice(victims["third"]))]

    def _e(self, arg: str) -> list[Segment]:
        return self._family("evidence_item")

    def _u(self, arg: str) -> list[Segment]:
        s = self.subject
        return [Segment(self.rng.choice(s.spec["short"]) if s and s.spec["short"] else "那里")]

    def _post(self, arg: str) -> list[Segment]:
        s = self.subject
        if s is None:
            return [Segment("领导")]
        return [Segment(s.post if s.named and s.post else self.rng.choice(s.spec["vpost"] or ["负责人"]))]

    def _self(self, arg: str) -> list[Segment]:
        return [Segment(F.expand(self.rng, self.lex, self.rng.choice(self.lex["self_ids"][self.kind])))]

    # ----------------------------------------------------------------- people and problems
    def _choose_problems(self) -> list[Template]:
        rng, cfg, plan = self.rng, self.cfg, self.plan
        primary = plan.primary_topic
        first_pool = [t for t in self.catalog.pool(f"problem.{primary}", self.side)
                      if primary == OUT_OF_SCOPE or not t.attach]
        first = rng.choice(first_pool)
        self.kind = rng.choice(first.units)
        chosen = [first]
        in_scope = {t: w for t, w in cfg["topic_weights"].items() if t != OUT_OF_SCOPE}
        for _ in range(plan.n_problems - 1):
            if primary == OUT_OF_SCOPE:
                topics = [OUT_OF_SCOPE]
            elif rng.random() < cfg["same_topic_prob"]:
                topics = [primary]
            else:
                others = {t: w for t, w in in_scope.items() if t != primary}
                topics = [F.weighted(rng, others) for _ in range(3)]
            for topic in topics:
                pool = [t for t in self.catalog.pool(f"problem.{topic}", self.side)
                        if t not in chosen and (self.kind in t.units or (t.attach and self.kind == "none"))]
                if pool:
                    chosen.append(rng.choice(pool))
                    break
        if primary != OUT_OF_SCOPE and not plan.malicious and rng.random() < cfg["attach_oos_prob"]:
            pool = [t for t in self.catalog.pool(f"problem.{OUT_OF_SCOPE}", self.side) if t.attach]
            if pool:
                chosen.append(rng.choice(pool))
        for t in chosen:
            if t.id not in self.ids:
                self.ids.append(t.id)
        return chosen

    # ----------------------------------------------------------------- letter structure
    def _marker(self, i: int, n: int, style: str | None, attach: bool) -> list[Segment]:
        if n == 1:
            return []
        if style:
            return [Segment(self.lex["enumerations"][style][i])]
        if i and attach:
            return self._family("connector_oos")
        if i and self.rng.random() < 0.75:
            return self._family("connector")
        return []

    def _details(self, i: int, topic: str, attach: bool = False) -> list[Segment]:
        rng, plan, st = self.rng, self.plan, self.cfg["structure"]
        if plan.compact:
            return []
        if attach and i:  # an appended question or suggestion gets at most a remark
            return self._detail(rng.choice(["context", "aside"])) if rng.random() < 0.3 else []
        n_elab = int(F.weighted(rng, st["elaborations_per_problem"])) + (i == 0 and rng.random() < 0.4)
        n_detail = int(F.weighted(rng, st["details_per_problem"]))
        if self.terse:
            n_elab, n_detail = min(n_elab, 1), min(n_detail, 1)
        extra = st["extra_sentences"].get(plan.verbosity)
        if extra:
            more = rng.randint(*extra)
            n_elab += more // 2
            n_detail += more - more // 2
        kinds = ["elab"] * n_elab
        for _ in range(n_detail):
            options = {"context": 2.0, "aside": 1.0, "narrative": 1.0 if plan.verbosity != "normal" else 0.3}
            if self.intents["evidence"] and ("evidence" not in self.realized or rng.random() < 0.3):
                options["evidence"] = 3.0
            if self.intents["first_hand"] and "first_hand" not in self.realized:
                options["first_hand"] = 2.0
            if "hearsay" in plan.strong:
                options["hearsay"] = 2.0
            if "vague" in plan.strong:
                options["vague"] = 1.5
            kinds.append(F.weighted(rng, options))
        rng.shuffle(kinds)
        out: list[Segment] = []
        for kind in kinds:
            out += self._family(f"elab.{topic}", reuse=False) if kind == "elab" else self._detail(kind)
        return out

    def _detail(self, what: str) -> list[Segment]:
        if what == "evidence":
            if self.rng.random() < 0.25:
                return self._family("witness", "。")
            return self._family("evidence_frame")
        if what == "first_hand":
            return self._family("firsthand_sentence", "。")
        if what == "hearsay":
            return self._family("hearsay_sentence", reuse=False)
        if what == "vague":
            return self._family("vague_claim", reuse=False)
        family = {"context": "context_sentence", "narrative": "narrative"}.get(what, "aside")
        return self._family(family, reuse=False)

    def _ensure(self, what: str) -> list[Segment]:
        if what in ("evidence", "first_hand") and self.intents[what] and what not in self.realized:
            return self._detail(what)
        if what in ("time", "place", "amount"):
            signal = f"specific_{what}"
            if self.intents[signal] and signal not in self.realized \
                    and self.rng.random() < self.cfg["structure"]["ensure_specific"]:
                return self._family(f"{what}_detail")
            return []
        if what == "hearsay" and "hearsay" in self.plan.strong and not (
                self.families_used & {"hearsay_prefix", "hearsay_sentence"}):
            return self._detail("hearsay")
        if what == "vague" and "vague" in self.plan.strong and "vague_claim" not in self.families_used:
            return self._detail("vague")
        return []

    def _run(self, action: Action) -> list[Segment]:
        what = action[0]
        if what == "fam":
            return self._family(action[1], *action[2:])
        if what == "problem":
            return self._render(action[1])
        if what == "marker":
            return self._marker(*action[1:])
        if what == "details":
            return self._details(*action[1:])
        if what == "ensure":
            return self._ensure(action[1])
        raise ValueError(f"unknown action {action}")  # pragma: no cover

    def compose(self) -> Composition:
        """Render the whole letter."""
        rng, plan = self.rng, self.plan
        st = dict(self.cfg["structure"])
        if self.terse:
            for key in ("title", "salutation", "opening", "intro", "background", "accused_intro", "closing"):
                st[key] *= 0.25
        problems = self._choose_problems()
        if self.kind != "none":
            self.subject = make_subject(self.rng, self.lex, self.kind, self.intents["named_subject"])
        else:  # a policy question or suggestion: nobody accused, nothing that happened, witnessed or proven
            self.intents.update({s: s == "signed" and self.intents[s] for s in self.intents})
        oos = plan.primary_topic == OUT_OF_SCOPE
        strong, weak = set(plan.strong), set(plan.weak)
        signed_where = F.weighted(rng, st["signed_where"]) if self.intents["signed"] else None

        title: list[Action] = []
        if rng.random() < st["title"]:
            title = [("fam", "title_oos" if oos and rng.random() < 0.7 else "title")]
        paras: list[list[Action]] = []
        if rng.random() < st["salutation"]:
            paras.append([("fam", "salutation")])
        intro: list[Action] = []
        if rng.random() < st["opening"]:
            intro.append(("fam", "opening_oos" if oos and rng.random() < 0.6 else "opening"))
        if signed_where in ("intro", "both"):
            intro.append(("fam", "intro_signed"))
        elif rng.random() < st["intro"]:
            intro.append(("fam", "intro_anon"))
        if rng.random() < st["background"]:
            intro.insert(rng.randint(0, len(intro)), ("fam", "background"))
        floating: list[str] = []
        for ind in ("grudge", "grudge_admitted"):
            if ind in strong | weak:
                if rng.random() < 0.5:
                    intro.append(("fam", ind))
                else:
                    floating.append(ind)
        if self.subject is not None and rng.random() < st["accused_intro"]:
            intro.append(("fam", "accused_intro_oos" if oos else "accused_intro"))
        if intro:
            paras.append(intro)

        style = rng.choice(sorted(self.lex["enumerations"])) if rng.random() < st["enumerate_prob"] else None
        body: list[list[Action]] = []
        for i, t in enumerate(problems):
            body.append([("marker", i, len(problems), style, t.attach), ("problem", t), ("details", i, t.topic, t.attach)])
        floating += [ind for ind in ("exaggeration", "abuse") if ind in strong]
        floating += [ind for ind in ("anger", "exaggeration_lite") if ind in weak]
        tail: list[Action] = []
        for ind in floating:
            target = rng.choice(body) if rng.random() < 0.5 else tail
            target.append(("fam", ind))
        main = [i for i, t in enumerate(problems) if i == 0 or not t.attach]  # not an appended question
        for what, key in (("time", None), ("place", "place_topics"), ("amount", "amount_topics")):
            targets = [i for i in main if key is None or problems[i].topic in st[key]]
            if targets:
                body[rng.choice(targets)].append(("ensure", what))
        body[main[-1]] += [("ensure", "first_hand"), ("ensure", "evidence")]
        tail += [("ensure", "hearsay"), ("ensure", "vague")]
        rng.shuffle(tail)
        paras += body
        paras.append(tail)

        ending: list[Action] = []
        if "repeat_lite" in weak:
            ending.append(("fam", "repeat_lite"))
        if "disproportionate" in strong:
            if rng.random() < 0.4:
                ending.append(("fam", "demand"))
            ending.append(("fam", "disproportionate"))
        elif rng.random() < 0.85:
            use_oos = oos and (self.kind == "none" or rng.random() < 0.7)
            ending.append(("fam", "demand_oos" if use_oos else "demand"))
        for ind in ("threat", "threat_lite"):
            if ind in strong | weak:
                ending.insert(len(ending) if rng.random() < 0.8 else 0, ("fam", ind))
        if "mass_copy" in strong:
            ending.insert(len(ending) if rng.random() < 0.6 else 0, ("fam", "mass_copy"))
        paras.append(ending)
        if rng.random() < st["closing"]:
            paras.append([("fam", "closing")])
        signature: list[Action] = []
        if signed_where in ("signature", "both"):
            signature = [("fam", "signature_signed")]
        elif rng.random() < st["anon_signature"]:
            signature = [("fam", "signature_anon")]

        title_segs = self._run(title[0]) if title else []
        rendered = [[seg for a in para for seg in self._run(a)] for para in paras]
        sig_segs = self._run(signature[0]) if signature else []
        segments = lay_out(rng, F.weighted(rng, self.cfg["layout"]), title_segs, rendered, sig_segs)
        return Composition(segments=merge(segments), template_ids=list(self.ids),
                           topics=[t.topic or "" for t in problems], primary=problems[0].topic or "")


def compose(rng: Random, res: Resources, side: str, plan: Plan) -> Composition:
    """Render ``plan`` into a letter (segments, template ids, topics)."""
    return Composer(rng, res, side, plan).compose()

