"""The label plan of one letter: malicious or not, its indicators, primary topic and intended signals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from random import Random
from typing import Any

from xinfang.training.generator.fillers import weighted

OUT_OF_SCOPE = "out_of_scope"
# Weak indicators that make sense in a letter about a company, a court or a policy question.
OOS_WEAK = ("anger", "repeat_lite", "threat_lite", "exaggeration_lite")


@dataclass(frozen=True)
class Plan:
    """What one letter is meant to be; the composer realises it and labels follow the text written."""

    malicious: bool
    primary_topic: str
    n_problems: int
    strong: tuple[str, ...]
    weak: tuple[str, ...]
    intents: Mapping[str, bool]
    verbosity: str = "normal"
    compact: bool = False


def sample_without_replacement(rng: Random, weights: Mapping[str, float], k: int) -> tuple[str, ...]:
    """``k`` distinct keys drawn in proportion to their weights."""
    left = dict(weights)
    out: list[str] = []
    for _ in range(min(k, len(left))):
        key = weighted(rng, left)
        out.append(key)
        del left[key]
    return tuple(out)


def make_plan(rng: Random, cfg: dict[str, Any], malicious_rate: float, compact: bool = False) -> Plan:
    """Draw the plan of one letter."""
    malicious = rng.random() < malicious_rate
    topic_weights = {t: w for t, w in cfg["topic_weights"].items() if not (malicious and t == OUT_OF_SCOPE)}
    primary = weighted(rng, topic_weights)
    if primary == OUT_OF_SCOPE:
        n_problems = 2 if rng.random() < cfg["oos_second_problem_prob"] else 1
    else:
        n_problems = int(weighted(rng, cfg["problems_per_letter"]))
    verbosity = "terse" if compact else weighted(rng, cfg["structure"]["verbosity"])
    if verbosity == "very_long" and primary != OUT_OF_SCOPE:
        n_problems = max(n_problems, rng.choice((2, 3)))
    if compact:
        n_problems = 1

    ind = cfg["indicators"]
    if malicious:
        strong = sample_without_replacement(rng, ind["strong"], int(weighted(rng, ind["malicious_count"])))
    elif primary != OUT_OF_SCOPE and rng.random() < ind["genuine_strong_prob"]:
        strong = sample_without_replacement(rng, ind["strong"], 1)
    else:
        strong = ()
    scale = ind["malicious_weak_scale"] if malicious else 1.0
    weak = tuple(w for w, p in ind["weak"].items()
                 if rng.random() < p * scale and (primary != OUT_OF_SCOPE or w in OOS_WEAK))

    probs = dict(cfg["signal_prob"]["malicious" if malicious else "genuine"])
    if "vague" in strong:
        probs.update(cfg["signal_prob"]["vague"])
    intents = {s: rng.random() < probs[s] for s in cfg["labels"]["credibility"]}
    if "hearsay" in strong:
        intents["first_hand"] = False
    return Plan(malicious=malicious, primary_topic=primary, n_problems=n_problems, strong=strong, weak=weak,
                intents=intents, verbosity=verbosity, compact=compact)
