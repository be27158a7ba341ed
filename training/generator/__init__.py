"""Synthetic complaint letters with topic, credibility-span and malicious labels (training data)."""

from xinfang.training.generator.generate import generate_letters
from xinfang.training.generator.model import GeneratedLetter, SignalSpan

__all__ = ["GeneratedLetter", "SignalSpan", "generate_letters"]
