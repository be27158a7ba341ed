"""Template mini-language: literal text, {SLOT}, {SLOT:arg}, {SLOT,} slots and [a|b|c] choices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from random import Random

from xinfang.training.generator.segments import Segment


class TemplateSyntaxError(ValueError):
    """A template string that cannot be parsed."""


@dataclass(frozen=True)
class Slot:
    """A placeholder filled at render time; ``comma`` adds "，" after a non-empty filler."""

    name: str
    arg: str = ""
    comma: bool = False


@dataclass(frozen=True)
class Choice:
    """One of several alternative part sequences, picked uniformly at render time."""

    options: tuple[tuple[Part, ...], ...]


Part = str | Slot | Choice
Filler = Callable[[Slot], list[Segment]]


def parse(text: str) -> tuple[Part, ...]:
    """Parse a template string into parts; raises TemplateSyntaxError on unbalanced brackets."""
    parts, i, end = _sequence(text, 0)
    if end is not None:
        raise TemplateSyntaxError(f"unexpected '{end}' at {i - 1} in {text!r}")
    return parts


def _slot(body: str, text: str) -> Slot:
    comma = body.endswith(",")
    name, _, arg = body.rstrip(",").partition(":")
    if not name.isupper() or not name.isalpha():
        raise TemplateSyntaxError(f"bad slot {{{body}}} in {text!r}")
    return Slot(name, arg, comma)


def _sequence(text: str, i: int) -> tuple[tuple[Part, ...], int, str | None]:
    parts: list[Part] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            parts.append("".join(buf))
            buf.clear()

    while i < len(text):
        c = text[i]
        if c == "{":
            j = text.find("}", i)
            if j < 0:
                raise TemplateSyntaxError(f"unclosed '{{' in {text!r}")
            flush()
            parts.append(_slot(text[i + 1:j], text))
            i = j + 1
        elif c == "[":
            flush()
            options: list[tuple[Part, ...]] = []
            i += 1
            while True:
                opt, i, end = _sequence(text, i)
                options.append(opt)
                if end == "]":
                    break
                if end != "|":
                    raise TemplateSyntaxError(f"unclosed '[' in {text!r}")
            parts.append(Choice(tuple(options)))
        elif c in "|]":
            flush()
            return tuple(parts), i + 1, c
        else:
            buf.append(c)
            i += 1
    flush()
    return tuple(parts), i, None


def slot_names(parts: tuple[Part, ...]) -> set[str]:
    """Every slot name used anywhere in the parts."""
    names: set[str] = set()
    for p in parts:
        if isinstance(p, Slot):
            names.add(p.name)
        elif isinstance(p, Choice):
            for opt in p.options:
                names |= slot_names(opt)
    return names


def render(parts: tuple[Part, ...], rng: Random, fill: Filler, out: list[Segment]) -> None:
    """Render parts into ``out``: choices picked with ``rng``, slots filled by ``fill``."""
    for p in parts:
        if isinstance(p, str):
            out.append(Segment(p))
        elif isinstance(p, Slot):
            segs = fill(p)
            out.extend(segs)
            if p.comma and any(s.text for s in segs):
                out.append(Segment("，"))
        else:
            render(p.options[rng.randrange(len(p.options))], rng, fill, out)
