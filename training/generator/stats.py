"""Summary statistics of a batch of generated letters (label frequencies, lengths, template use)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from xinfang.training.generator.model import GeneratedLetter


def _percentile(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def summarize(letters: list[GeneratedLetter], seconds: float | None = None) -> dict[str, Any]:
    """Label frequencies (share of letters), length percentiles and counts, as a JSON-ready dict."""
    n = len(letters) or 1
    topic = Counter(t for x in letters for t in x.topic)
    primary = Counter(x.topic_primary for x in letters)
    cred = Counter(c for x in letters for c in x.credibility)
    lengths = sorted(len(x.text) for x in letters)
    out: dict[str, Any] = {
        "n": len(letters),
        "malicious_rate": round(sum(x.malicious for x in letters) / n, 3),
        "topic": {k: round(v / n, 3) for k, v in sorted(topic.items())},
        "topic_primary": {k: round(v / n, 3) for k, v in sorted(primary.items())},
        "topics_per_letter": dict(sorted(Counter(len(x.topic) for x in letters).items())),
        "credibility": {k: round(v / n, 3) for k, v in sorted(cred.items())},
        "spans_per_letter": round(sum(len(x.spans) for x in letters) / n, 2),
        "length": {"mean": round(sum(lengths) / n, 1), "min": lengths[0] if lengths else 0,
                   "p05": _percentile(lengths, 0.05), "p25": _percentile(lengths, 0.25),
                   "p50": _percentile(lengths, 0.5), "p75": _percentile(lengths, 0.75),
                   "p95": _percentile(lengths, 0.95), "max": lengths[-1] if lengths else 0},
        "distinct_templates": len({t for x in letters for t in x.template_ids}),
    }
    for flag in (True, False):
        group = [x for x in letters if x.malicious is flag]
        c = Counter(s for x in group for s in x.credibility)
        out["credibility_" + ("malicious" if flag else "genuine")] = {
            k: round(v / max(1, len(group)), 3) for k, v in sorted(c.items())}
    if seconds is not None:
        out["seconds"] = round(seconds, 3)
    return out
