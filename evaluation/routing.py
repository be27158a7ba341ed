"""Letters the model routes to a human, and why, by the served routing rules (xinfang.routing)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np

from xinfang.routing import is_low_confidence, reason_head, route_probabilities
from xinfang.schema import Schema


def reason_category(reason: str) -> str:
    """A short category for a routing reason: '<head> low confidence', 'malicious flag', 'abusive flag'."""
    return f"{reason_head(reason)} {'low confidence' if is_low_confidence(reason) else 'flag'}"


def route_letters(schema: Schema, calibration: Mapping[str, Mapping], ids: list[str],
                  probs: dict[str, np.ndarray], limit: int = 15) -> dict:
    """Routing of every letter from precomputed probabilities: counts per reason category and the
    letters routed to a human (those with the most reasons first, up to `limit`). No letter text
    is used or kept: the reasons name heads, figures and indicator types only."""
    routed: list[dict] = []
    reasons: Counter[str] = Counter()
    for i, letter_id in enumerate(ids):
        route = route_probabilities(schema, calibration, {h: p[i] for h, p in probs.items()})
        if route.decision == "human":
            cats = sorted({reason_category(r) for r in route.reasons})
            reasons.update(cats)
            routed.append({"id": letter_id, "row": i, "reasons": route.reasons, "categories": cats})
    routed.sort(key=lambda r: (-len(r["reasons"]), r["row"]))
    n = len(ids)
    return {
        "n": n,
        "routed": len(routed),
        "rate": len(routed) / n if n else None,
        "reasons": dict(reasons.most_common()),
        "letters": routed[:limit],
    }
