"""The public generator API: ``generate_letters`` turns a seed into labelled synthetic letters."""

from __future__ import annotations

from functools import lru_cache
from random import Random

from xinfang.training.generator.compose import compose
from xinfang.training.generator.model import GeneratedLetter
from xinfang.training.generator.noise import Noiser, draw_profile
from xinfang.training.generator.plan import make_plan
from xinfang.training.generator.resources import Resources, load_resources
from xinfang.training.generator.segments import join
from xinfang.training.generator.split import template_side

MAX_ATTEMPTS = 12


@lru_cache(maxsize=1)
def _noiser() -> Noiser:
    return Noiser(load_resources().lex["homophones"])


def _letter(rng: Random, res: Resources, side: str, split: str, malicious_rate: float, letter_id: str
            ) -> GeneratedLetter:
    cfg = res.config
    lo, hi = cfg["length"]["min"], cfg["length"]["max"]
    compact = False
    for _ in range(MAX_ATTEMPTS):
        plan = make_plan(rng, cfg, malicious_rate, compact=compact)
        comp = compose(rng, res, side, plan)
        segments = _noiser().apply(comp.segments, rng, draw_profile(rng, cfg))
        text, spans = join(segments)
        if lo <= len(text) <= hi:
            labels = cfg["labels"]
            present = {s.type for s in spans}
            return GeneratedLetter(
                id=letter_id, text=text,
                topic=[t for t in labels["topic"] if t in set(comp.topics)],
                topic_primary=comp.primary,
                credibility=[c for c in labels["credibility"] if c in present],
                spans=spans, malicious=plan.malicious, template_ids=comp.template_ids, split=split)
        compact = len(text) > hi
    raise RuntimeError(f"could not generate a letter of {lo}-{hi} characters for {letter_id}")


def generate_letters(n: int, seed: int = 0, split: str = "train", malicious_rate: float = 0.2
                     ) -> list[GeneratedLetter]:
    """Generate ``n`` labelled synthetic letters.

    Deterministic: the same (n, seed, split, malicious_rate) gives identical letters, and letter i does
    not depend on n. ``split="test"`` draws only held-out templates (see split.py); "train" and "dev"
    share the other templates but use different random streams.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 <= malicious_rate <= 1.0:
        raise ValueError(f"malicious_rate must be in [0, 1], got {malicious_rate}")
    side = template_side(split)
    res = load_resources()
    out = []
    for i in range(n):
        rng = Random(f"xinfang-generator:{seed}:{split}:{malicious_rate!r}:{i}")
        out.append(_letter(rng, res, side, split, malicious_rate, f"gen-{split}-{seed}-{i:06d}"))
    return out
