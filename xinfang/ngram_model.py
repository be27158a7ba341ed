"""A linear model over character n-grams (sublinear TF-IDF, L2-normalised), run in numpy beside the encoder:
the blend partner whose logits the engine mixes with the encoder's per head."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NGRAM_FILE = "ngram.npz"
_WHITESPACE = re.compile(r"\s\s+")


def char_ngrams(text: str, min_n: int = 1, max_n: int = 3) -> list[str]:
    """Character n-grams of a lower-cased text whose whitespace runs are one space (the analyzer the
    model is trained with and served with)."""
    text = _WHITESPACE.sub(" ", text.lower())
    out: list[str] = []
    for n in range(min_n, max_n + 1):
        out.extend(text[i: i + n] for i in range(len(text) - n + 1))
    return out


@dataclass
class NgramModel:
    """Vocabulary, idf and one weight matrix per head (features x outputs) with its intercepts."""

    vocabulary: dict[str, int]
    idf: np.ndarray
    coef: dict[str, np.ndarray]
    intercept: dict[str, np.ndarray]
    min_n: int = 1
    max_n: int = 3

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(feature indices, L2-normalised sublinear TF-IDF values) of one text."""
        counts = Counter(j for g in char_ngrams(text, self.min_n, self.max_n)
                         if (j := self.vocabulary.get(g)) is not None)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        idx = np.fromiter(counts, dtype=np.int64, count=len(counts))
        tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float64, count=len(counts))
        val = tf * self.idf[idx]
        return idx, val / np.linalg.norm(val)

    def logits(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Per head, a (letters x outputs) matrix of decision values."""
        feats = [self.features(t) for t in texts]
        out = {}
        for head, w in self.coef.items():
            m = np.tile(self.intercept[head].astype(np.float64), (len(texts), 1))
            for i, (idx, val) in enumerate(feats):
                if len(idx):
                    m[i] += val @ w[idx].astype(np.float64)
            out[head] = m
        return out

    def evidence(self, text: str, head: str, column: int, width: int = 12) -> tuple[int, int] | None:
        """[start, end) of the stretch of `text` (at most `width` characters) whose n-grams push this output
        up the most, trimmed to characters that push it up; None when nothing in the text does."""
        w = self.coef.get(head)
        if w is None or not text:
            return None
        lowered = text.lower()
        push = np.zeros(len(text))
        for n in range(self.min_n, self.max_n + 1):
            for i in range(len(text) - n + 1):
                j = self.vocabulary.get(lowered[i: i + n])
                if j is not None:
                    push[i: i + n] += float(w[j, column]) * float(self.idf[j]) / n
        if push.max() <= 0:
            return None
        k = min(width, len(text))
        sums = np.convolve(push, np.ones(k), mode="valid")
        start = int(sums.argmax())
        end = start + k
        while start < end and push[start] <= 0:
            start += 1
        while end > start and push[end - 1] <= 0:
            end -= 1
        return (start, end) if end > start else None

    def save(self, path: str | Path) -> None:
        terms = np.empty(len(self.vocabulary), dtype=object)
        for term, j in self.vocabulary.items():
            terms[j] = term
        arrays = {"terms": terms.astype(str), "idf": self.idf.astype(np.float32),
                  "ngram_range": np.array([self.min_n, self.max_n])}
        for head in self.coef:
            arrays[f"coef__{head}"] = self.coef[head].astype(np.float32)
            arrays[f"intercept__{head}"] = self.intercept[head].astype(np.float32)
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> NgramModel:
        with np.load(path, allow_pickle=False) as z:
            heads = [k.split("__", 1)[1] for k in z.files if k.startswith("coef__")]
            min_n, max_n = (int(v) for v in z["ngram_range"])
            return cls(vocabulary={t: j for j, t in enumerate(z["terms"].tolist())}, idf=z["idf"].astype(np.float64),
                       coef={h: z[f"coef__{h}"] for h in heads}, intercept={h: z[f"intercept__{h}"] for h in heads},
                       min_n=min_n, max_n=max_n)
