"""A letter for the report: personal data masked, credibility signals and indicators highlighted (HTML)."""

from __future__ import annotations

from html import escape

from xinfang.schema import Schema

INDICATOR_ZH = {
    "hearsay": "道听途说",
    "grudge": "个人恩怨",
    "threat": "威胁扬言",
    "exaggeration": "夸大其词",
    "mass_copy": "多头重复",
    "punishment_demand": "过度追责",
}


def signal_names(schema: Schema | None) -> dict[str, str]:
    """Signal type -> Chinese name (credibility classes from the schema, indicators from INDICATOR_ZH)."""
    names = dict(INDICATOR_ZH)
    if schema is not None and "credibility" in schema.by_name:
        names.update({c.id: c.zh for c in schema.head("credibility").classes})
    return names


def masked_letter_html(text: str, schema: Schema | None = None, limit: int = 600) -> dict:
    """The letter as safe HTML: PII replaced by '*' of the same length (so the offsets of the rule
    signals, found on the original text, still hold) and each signal wrapped in a <mark>; the text of
    a signal is never copied except through the masked letter. Returns html, the signal types found,
    and whether the letter was cut at `limit` characters."""
    from xinfang.pii import mask_pii
    from xinfang.signals import CREDIBILITY_SIGNALS, extract_signals

    masked = mask_pii(text, keep_length=True)
    if len(masked) != len(text):  # cannot happen with keep_length; never show unmasked text
        masked = "*" * len(text)
    names = signal_names(schema)
    cut = min(len(text), limit)
    spans = sorted(extract_signals(text), key=lambda s: (s.start, -(s.end - s.start)))
    parts: list[str] = []
    pos = 0
    types: list[str] = []
    kinds: dict[str, str] = {}
    for s in spans:
        if s.start < pos or s.end > cut:
            continue
        kind = "cred" if s.type in CREDIBILITY_SIGNALS else "ind"
        parts.append(escape(masked[pos : s.start]))
        label = f"{names.get(s.type, s.type)} ({s.type})"
        parts.append(
            f'<mark class="sig {kind} t-{escape(s.type)}" title="{escape(label)}">'
            f"{escape(masked[s.start : s.end])}</mark>"
        )
        pos = s.end
        if s.type not in types:
            types.append(s.type)
            kinds[s.type] = kind
    parts.append(escape(masked[pos:cut]))
    if cut < len(text):
        parts.append(f'<span class="cut">…（共{len(text)}字，已截断）</span>')
    return {
        "html": "".join(parts).replace("\n", "<br>"),
        "signals": [(t, names.get(t, t), kinds[t]) for t in types],
        "truncated": cut < len(text),
    }
