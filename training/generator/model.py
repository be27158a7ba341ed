"""The generated letter and its credibility-signal spans (the generator's output records)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SignalSpan:
    """One piece of text that shows a credibility signal: ``text == letter[start:end]``."""

    type: str
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "start": self.start, "end": self.end, "text": self.text}


@dataclass
class GeneratedLetter:
    """A synthetic letter with its labels for the topic, credibility and malicious heads."""

    id: str
    text: str
    topic: list[str]
    topic_primary: str
    credibility: list[str]
    spans: list[SignalSpan] = field(default_factory=list)
    malicious: bool = False
    template_ids: list[str] = field(default_factory=list)
    split: str = "train"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the JSONL record written by the CLI)."""
        return {
            "id": self.id,
            "text": self.text,
            "topic": list(self.topic),
            "topic_primary": self.topic_primary,
            "credibility": list(self.credibility),
            "spans": [s.to_dict() for s in self.spans],
            "malicious": self.malicious,
            "template_ids": list(self.template_ids),
            "split": self.split,
            "source": "generated",
        }
