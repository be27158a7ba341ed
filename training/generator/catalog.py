"""Template catalog: families of parsed templates from the YAML files, with their train/test halves."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from xinfang.training.generator.split import held_out_ids
from xinfang.training.generator.template import Part, parse, slot_names


@dataclass(frozen=True)
class Template:
    """One template (a paraphrase group): its variants, the slots it uses and where it may be used."""

    id: str
    family: str
    variants: tuple[tuple[Part, ...], ...]
    slots: frozenset[str]
    span: str | None = None
    topic: str | None = None
    units: tuple[str, ...] = ()
    attach: bool = False


class Catalog:
    """All template families; ``pool(family, side)`` gives the templates of one half."""

    def __init__(self, families: dict[str, list[Template]]):
        self.families = families
        self._pools: dict[tuple[str, str], tuple[Template, ...]] = {}
        for name, templates in families.items():
            held = held_out_ids([t.id for t in templates])
            self._pools[(name, "test")] = tuple(t for t in templates if t.id in held)
            self._pools[(name, "train")] = tuple(t for t in templates if t.id not in held)

    def pool(self, family: str, side: str) -> tuple[Template, ...]:
        return self._pools[(family, side)]

    def all_templates(self) -> list[Template]:
        return [t for name in self.families for t in self.families[name]]


def _variants(text: Any, where: str) -> tuple[tuple[Part, ...], ...]:
    items = text if isinstance(text, list) else [text]
    if not items or not all(isinstance(x, str) and x for x in items):
        raise ValueError(f"{where}: template text must be a non-empty string or list of strings")
    return tuple(parse(x) for x in items)


def _short_hash(text: Any) -> str:
    first = text[0] if isinstance(text, list) else text
    return hashlib.sha1(str(first).encode("utf-8")).hexdigest()[:6]


def _make(family: str, entry: Any, span: str | None = None, topic: str | None = None,
          groups: dict[str, list[str]] | None = None) -> Template:
    if isinstance(entry, dict):
        text = entry.get("text")
        key = entry.get("id") or _short_hash(text)
        units: list[str] = []
        for u in entry.get("units", []):
            units.extend((groups or {}).get(u, [u]))
        variants = _variants(text, f"{family}.{key}")
        return Template(id=f"{family}.{key}", family=family, variants=variants,
                        slots=frozenset().union(*(slot_names(v) for v in variants)),
                        span=entry.get("span", span), topic=topic, units=tuple(dict.fromkeys(units)),
                        attach=bool(entry.get("attach", False)))
    variants = _variants(entry, family)
    return Template(id=f"{family}.{_short_hash(entry)}", family=family, variants=variants,
                    slots=frozenset().union(*(slot_names(v) for v in variants)), span=span)


def build_catalog(letter: dict[str, Any], indicators: dict[str, Any], problems: dict[str, Any],
                  groups: dict[str, list[str]]) -> Catalog:
    """Build the catalog from the three template documents (already loaded YAML)."""
    families: dict[str, list[Template]] = {}
    for doc in (letter, indicators):
        for family, spec in doc.items():
            span = None
            entries = spec
            if isinstance(spec, dict):
                span, entries = spec.get("span"), spec.get("items", [])
            families[family] = [_make(family, e, span=span) for e in entries]
    for topic, entries in problems["problems"].items():
        family = f"problem.{topic}"
        families[family] = [_make(family, e, topic=topic, groups=groups) for e in entries]
    for topic, entries in problems.get("elaborations", {}).items():
        family = f"elab.{topic}"
        families[family] = [_make(family, e, topic=topic) for e in entries]
    ids = [t.id for ts in families.values() for t in ts]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"duplicate template ids {dupes}")
    return Catalog(families)
