"""The signal lexicon (xinfang/lexicon/signals.yaml), loaded once into sets and compiled patterns."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from xinfang.errors import InputFileError

CUE_TYPES = ("first_hand", "signed", "hearsay", "grudge", "threat", "exaggeration", "mass_copy",
             "punishment_demand")


def alternation(words: Iterable[str]) -> str:
    """A regex alternation of literal words, longest first so the longest one wins."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))


@dataclass(frozen=True, eq=False)
class Lexicon:
    """Word lists and compiled cue patterns for names, units, places, times, amounts and cues."""

    surnames: frozenset[str]
    standalone_surnames: frozenset[str]
    compound_surnames: tuple[str, ...]
    ambiguous_surnames: frozenset[str]
    placeholders: tuple[str, ...]
    not_names: frozenset[str]
    name_cues: tuple[str, ...]
    posts: tuple[str, ...]
    addressee_cues: tuple[str, ...]
    unit_suffixes: tuple[str, ...]
    unit_generic: frozenset[str]
    unit_vague: frozenset[str]
    unit_areas: tuple[str, ...]
    unit_weak_suffixes: frozenset[str]
    not_units: frozenset[str]
    place_suffixes: tuple[str, ...]
    place_generic: frozenset[str]
    place_not_prefix: frozenset[str]
    time_relative_alone: tuple[str, ...]
    time_relative_anchor: tuple[str, ...]
    time_qualifiers: tuple[str, ...]
    amount_items: tuple[str, ...]
    amount_measures: str
    money_context: tuple[str, ...]
    evidence_strong: tuple[str, ...]
    evidence_weak: tuple[str, ...]
    evidence_offering: tuple[str, ...]
    negations: tuple[str, ...]
    cues: dict[str, re.Pattern[str]]

    def is_surname_start(self, word: str) -> bool:
        return word[:1] in self.surnames or word[:2] in self.compound_surnames


def _chars(value: Any) -> frozenset[str]:
    return frozenset("".join(str(value).split()))


def _cue_pattern(entry: dict[str, Any]) -> re.Pattern[str]:
    parts = [f"(?:{p})" for p in entry.get("patterns") or []]
    phrases = entry.get("phrases") or []
    if phrases:
        parts.insert(0, f"(?:{alternation(phrases)})")
    return re.compile("|".join(parts) if parts else r"(?!x)x")


def parse_lexicon(data: dict[str, Any], source: str = "<lexicon>") -> Lexicon:
    """Build a Lexicon from the parsed YAML mapping; a missing section names the file and key."""
    try:
        names, units, places = data["names"], data["units"], data["places"]
        time, amount, evidence, cues = data["time"], data["amount"], data["evidence"], data["cues"]
        surname_order = "".join(str(names["surnames"]).split())
        return Lexicon(
            surnames=frozenset(surname_order),
            standalone_surnames=frozenset(surname_order[: int(names.get("standalone_top", 100))]),
            compound_surnames=tuple(names.get("compound") or ()),
            ambiguous_surnames=_chars(names.get("ambiguous", "")),
            placeholders=tuple(str(p) for p in names["placeholders"]),
            not_names=frozenset(names.get("not_names") or ()),
            name_cues=tuple(names["cues"]),
            posts=tuple(sorted(set(names["posts"]), key=len, reverse=True)),
            addressee_cues=tuple(names.get("addressee_cues") or ()),
            unit_suffixes=tuple(sorted(set(units["suffixes"]), key=len, reverse=True)),
            unit_generic=frozenset(units.get("generic") or ()),
            unit_vague=frozenset(units.get("vague") or ()),
            unit_areas=tuple(units.get("areas") or ()),
            unit_weak_suffixes=frozenset(units.get("weak_suffixes") or ()),
            not_units=frozenset(units.get("not_units") or ()),
            place_suffixes=tuple(sorted(set(places["suffixes"]), key=len, reverse=True)),
            place_generic=frozenset(places.get("generic") or ()),
            place_not_prefix=frozenset(places.get("not_prefix") or ()),
            time_relative_alone=tuple(time["relative_alone"]),
            time_relative_anchor=tuple(time["relative_anchor"]),
            time_qualifiers=tuple(time["qualifiers"]),
            amount_items=tuple(amount["items"]),
            amount_measures="".join(str(amount["measures"]).split()),
            money_context=tuple(amount["money_context"]),
            evidence_strong=tuple(evidence["strong"]),
            evidence_weak=tuple(evidence["weak"]),
            evidence_offering=tuple(evidence["offering"]),
            negations=tuple(evidence["negations"]),
            cues={name: _cue_pattern(cues.get(name) or {}) for name in CUE_TYPES},
        )
    except (KeyError, TypeError) as exc:
        raise InputFileError(source, f"lexicon is missing or has a malformed section: {exc}") from None
    except re.error as exc:
        raise InputFileError(source, f"bad regular expression in lexicon: {exc}") from None


@lru_cache(maxsize=4)
def load_lexicon(path: str | None = None) -> Lexicon:
    """The packaged lexicon, or a deployment's own YAML file at `path`; parsed once per path."""
    if path is None:
        ref = resources.files("xinfang") / "lexicon" / "signals.yaml"
        return parse_lexicon(yaml.safe_load(ref.read_text(encoding="utf-8")), "xinfang/lexicon/signals.yaml")
    p = Path(path)
    if not p.is_file():
        raise InputFileError(p, "lexicon file not found")
    return parse_lexicon(yaml.safe_load(p.read_text(encoding="utf-8")), str(p))
