"""The Signal record, the signal type names, and helpers that group and de-overlap signals."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

CREDIBILITY_SIGNALS: tuple[str, ...] = (
    "named_subject", "specific_time", "specific_place", "specific_amount", "evidence", "first_hand", "signed",
)
MALICIOUS_INDICATORS: tuple[str, ...] = (
    "hearsay", "grudge", "threat", "exaggeration", "mass_copy", "punishment_demand",
)
SIGNAL_TYPES: tuple[str, ...] = CREDIBILITY_SIGNALS + MALICIOUS_INDICATORS


@dataclass(frozen=True, slots=True)
class Signal:
    """One piece of evidence: `text == letter[start:end]` of the original letter, always.

    `source` is "rule" here (the engine adds "model"); `rule` names the pattern that fired, for reviewers.
    """

    type: str
    text: str
    start: int
    end: int
    source: str = "rule"
    rule: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_signal(letter: str, type_: str, start: int, end: int, rule: str) -> Signal:
    """A rule signal whose text is cut from the original letter (the only way spans are built)."""
    return Signal(type=type_, text=letter[start:end], start=start, end=end, source="rule", rule=rule)


def drop_overlaps(signals: Iterable[Signal]) -> list[Signal]:
    """Within each type keep the longest of overlapping spans; result sorted by position."""
    by_type: dict[str, list[Signal]] = {}
    for s in signals:
        if s.end > s.start:
            by_type.setdefault(s.type, []).append(s)
    kept: list[Signal] = []
    for group in by_type.values():
        taken: list[Signal] = []
        for s in sorted(group, key=lambda s: (-(s.end - s.start), s.start)):
            if all(s.end <= t.start or s.start >= t.end for t in taken):
                taken.append(s)
        kept.extend(taken)
    return sorted(kept, key=lambda s: (s.start, s.end, s.type))


def group_signals(signals: Iterable[Signal], types: Iterable[str]) -> dict[str, list[Signal]]:
    """Signals grouped by type, with an (empty) entry for every type asked for."""
    out: dict[str, list[Signal]] = {t: [] for t in types}
    for s in signals:
        if s.type in out:
            out[s.type].append(s)
    return out


def credibility_evidence(signals: Iterable[Signal]) -> dict[str, list[Signal]]:
    """Credibility signals by type, every type of CREDIBILITY_SIGNALS present (maybe empty)."""
    return group_signals(signals, CREDIBILITY_SIGNALS)


def malicious_evidence(signals: Iterable[Signal]) -> dict[str, list[Signal]]:
    """Malicious-report indicators by type, every type of MALICIOUS_INDICATORS present (maybe empty)."""
    return group_signals(signals, MALICIOUS_INDICATORS)


def signal_types(signals: Iterable[Signal]) -> set[str]:
    """The types with at least one signal."""
    return {s.type for s in signals}
