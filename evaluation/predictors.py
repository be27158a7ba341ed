"""Predictors over letters with one interface: a model folder (int8 or fp32) or the TF-IDF baseline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xinfang.model_folder import ModelFolder, ModelNotFound
from xinfang.precision import Precision
from xinfang.routing import route_threshold
from xinfang.schema import Head, Schema


@dataclass
class ModelPredictor:
    """A trained model folder served by the engine at one precision."""

    folder: ModelFolder
    engine: Any
    role: str  # model | fp32 | against

    @property
    def schema(self) -> Schema:
        return self.folder.schema

    @property
    def label(self) -> str:
        return f"{self.folder.name}/{self.folder.version} ({self.engine.precision})"

    def probabilities(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        if not texts:
            return {h.name: np.zeros((0, h.n_outputs)) for h in self.schema.heads}
        return self.engine.probabilities(list(texts))

    def evidence(self, ids: Sequence[str], texts: Sequence[str]) -> list[list[dict]]:
        """Each letter's credibility signals with their spans, as the served result gives them."""
        from xinfang.engine import LetterIn

        results = self.engine.score([LetterIn(i, t) for i, t in zip(ids, texts, strict=True)])
        return [[s.model_dump() for s in r.credibility.signals] if getattr(r, "credibility", None) else []
                for r in results]

    def thresholds(self, head: str) -> list[float] | None:
        return self.folder.calibration.get(head, {}).get("decision_thresholds") or None

    def route_threshold(self, head: str) -> float | None:
        return route_threshold(self.folder.calibration, head)

    def head(self, name: str) -> Head | None:
        return self.schema.by_name.get(name)


def load_model(folder: ModelFolder, precision: Precision, role: str, threads: int = 0) -> ModelPredictor | None:
    """The folder at a precision, or None when that graph is missing."""
    from xinfang.engine import Engine

    try:
        folder.onnx_path(precision)
    except ModelNotFound:
        return None
    return ModelPredictor(folder, Engine(folder, precision=precision, threads=threads), role)  # evidence too


@dataclass
class BaselinePredictor:
    """The TF-IDF baseline behind the same interface (no route threshold: it is never served)."""

    baseline: Any  # xinfang.evaluation.baseline.TfidfBaseline
    role: str = "baseline"
    label: str = "TF-IDF + logistic regression"

    @property
    def schema(self) -> Schema:
        return self.baseline.schema

    def probabilities(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.baseline.probabilities(list(texts))

    def thresholds(self, head: str) -> list[float] | None:
        return self.baseline.thresholds(head)

    def route_threshold(self, head: str) -> float | None:
        return None

    def head(self, name: str) -> Head | None:
        return self.baseline.heads[name].head if name in self.baseline.heads else None
