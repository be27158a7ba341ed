"""Lexical slot fillers: names, places, units, projects, companies and signature contacts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from random import Random
from typing import Any

from xinfang.training.generator.idcard import make_id

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def weighted(rng: Random, weights: Mapping[Any, float]) -> Any:
    """One key of ``weights`` drawn in proportion to its value (order as written in the data)."""
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def expand(rng: Random, lex: dict[str, Any], pattern: str, extra: Mapping[str, str] | None = None) -> str:
    """Fill lowercase placeholders ({area}, {town}, {district}, {n}, ...) of a lexicon pattern."""

    def one(m: re.Match[str]) -> str:
        key = m.group(1)
        if extra and key in extra:
            return extra[key]
        if key in ("area", "area2"):
            return rng.choice(lex["areas"])
        if key == "town":
            return rng.choice(lex["towns"])
        if key == "district":
            return rng.choice(lex["districts"])
        if key == "code":
            return rng.choice(lex["codes"])
        if key == "n":
            return str(rng.randint(1, 12))
        if key == "n3":
            return f"{rng.randint(1, 28)}0{rng.randint(1, 6)}"
        if key == "sur":
            return rng.choice(lex["surnames"])
        raise KeyError(f"unknown placeholder {{{key}}} in {pattern!r}")

    return _PLACEHOLDER.sub(one, pattern)


def given_name(rng: Random, lex: dict[str, Any]) -> str:
    chars = lex["given_chars"]
    return rng.choice(chars) + (rng.choice(chars) if rng.random() < 0.7 else "")


def person_name(rng: Random, lex: dict[str, Any], styles: Mapping[str, float]) -> str:
    """A name in one of the written styles: 王建国, 王某某, 王某, 王XX, 王**."""
    sur = rng.choice(lex["surnames"])
    style = weighted(rng, styles)
    if style == "full":
        return sur + given_name(rng, lex)
    return sur + {"moumou": "某某", "mou": "某", "xx": rng.choice(["XX", "xx", "ＸＸ"]), "stars": "**"}[style]


def place(rng: Random, lex: dict[str, Any], kind: str) -> tuple[str, str]:
    """A specific place of a kind of scene: (prefix outside the span, the place)."""
    spec = lex["place_kinds"].get(kind) or lex["place_kinds"][rng.choice(sorted(lex["place_kinds"]))]
    return spec["prefix"], expand(rng, lex, rng.choice(spec["patterns"]))


def vague_place(rng: Random, lex: dict[str, Any], kind: str) -> str:
    vague = lex["place_vague"]
    return rng.choice(vague.get(kind, vague["default"]))


def project(rng: Random, lex: dict[str, Any], kind: str) -> str:
    projects = lex["projects"]
    return expand(rng, lex, rng.choice(projects.get(kind) or projects[rng.choice(sorted(projects))]))


def company(rng: Random, lex: dict[str, Any], kind: str) -> str:
    companies = lex["companies"]
    return expand(rng, lex, rng.choice(companies.get(kind) or companies["construction"]))


def phone(rng: Random, lex: dict[str, Any]) -> str:
    """A mainland mobile number, written 13812345678, 138-1234-5678 or 138 1234 5678."""
    a = str(rng.choice(lex["phone_prefixes"]))
    b, c = f"{rng.randrange(10000):04d}", f"{rng.randrange(10000):04d}"
    return rng.choice(lex["phone_formats"]).format(a=a, b=b, c=c)


def address(rng: Random, lex: dict[str, Any]) -> str:
    return expand(rng, lex, rng.choice(lex["addresses"]))


def id_number(rng: Random, lex: dict[str, Any]) -> str:
    return make_id(rng, lex["region_codes"])
