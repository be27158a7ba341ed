"""Letters the model routes to a human, and why, by the engine's own routing rule."""

from __future__ import annotations

from collections import Counter

import numpy as np

from xinfang.engine import Engine, LetterIn


def reason_category(reason: str) -> str:
    """A short category for an engine reason: '<head> low confidence', 'malicious flag', 'abusive flag'."""
    head, _, rest = reason.partition(":")
    if "below the auto-route threshold" in rest:
        return f"{head} low confidence"
    return f"{head} flag"


def route_letters(engine: Engine, ids: list[str], probs: dict[str, np.ndarray], limit: int = 15) -> dict:
    """Routing of every letter from precomputed probabilities: counts per reason category and the
    letters routed to a human (those with the most reasons first, up to `limit`). No letter text
    is used or kept: the engine's reasons name heads, figures and indicator types only."""
    routed: list[dict] = []
    reasons: Counter[str] = Counter()
    for i, letter_id in enumerate(ids):
        # the engine's rule for one letter; it reads only the probabilities (signals are switched off)
        out = engine._result(LetterIn(letter_id, ""), {h: p[i] for h, p in probs.items()})
        if out["route"]["decision"] == "human":
            cats = sorted({reason_category(r) for r in out["route"]["reasons"]})
            reasons.update(cats)
            routed.append({"id": letter_id, "row": i, "reasons": out["route"]["reasons"], "categories": cats})
    routed.sort(key=lambda r: (-len(r["reasons"]), r["row"]))
    n = len(ids)
    return {
        "n": n,
        "routed": len(routed),
        "rate": len(routed) / n if n else None,
        "reasons": dict(reasons.most_common()),
        "letters": routed[:limit],
    }
