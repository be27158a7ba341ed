"""TF-IDF (jieba words + character n-grams) linear baselines: per-head classifiers and k-fold CV."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from xinfang.heads import target_matrix
from xinfang.labels import LabelledLetter
from xinfang.schema import Head, HeadKind, Schema
from xinfang.thresholds import fit_decision_thresholds

DESCRIPTION = (
    "TF-IDF of jieba words and character 1-3-grams (sublinear tf) with logistic regression "
    "(class-balanced); multi-label heads: one binary classifier per class"
)


@lru_cache(maxsize=65536)
def _cut(text: str) -> tuple[str, ...]:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return tuple(jieba.lcut(text))


def _words(text: str) -> list[str]:
    """jieba words, cached: cross-validation and per-set transforms see the same letters many times."""
    return list(_cut(text))


def make_features() -> Any:
    """The feature union shared by every baseline: jieba word TF-IDF and character 1-3-gram TF-IDF."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    words = TfidfVectorizer(tokenizer=_words, token_pattern=None, sublinear_tf=True, min_df=1)
    chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
    return make_union(words, chars)


def _classifier() -> Any:
    """Class-balanced logistic regression; newton-cg reaches the same optimum as lbfgs on these sparse
    TF-IDF matrices several times faster (5-fold tipdm2020 CV: 3 s instead of 25 s on 2 cores)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, C=10.0, class_weight="balanced", solver="newton-cg")


def tfidf_baseline(train_texts: list[str], train_y: list[int], test_texts: list[str]) -> np.ndarray:
    """Fit on (texts, integer classes) and predict classes for test_texts."""
    from sklearn.pipeline import make_pipeline

    clf = make_pipeline(make_features(), _classifier())
    clf.fit(train_texts, train_y)
    return clf.predict(test_texts)


def _proba_columns(clf: Any, x: Any, n_classes: int) -> np.ndarray:
    """predict_proba spread over all n_classes columns (classes unseen in training get 0)."""
    p = clf.predict_proba(x)
    out = np.zeros((p.shape[0], n_classes))
    out[:, np.asarray(clf.classes_, dtype=int)] = p
    return out


@dataclass
class _BinaryColumn:
    """One yes/no classifier, or a constant when training had a single class."""

    clf: Any = None
    constant: float = 0.0

    def fit(self, x: Any, y: np.ndarray) -> _BinaryColumn:
        if len(np.unique(y)) < 2:
            self.constant = float(y.mean()) if len(y) else 0.0
            return self
        self.clf = _classifier().fit(x, y)
        return self

    def predict(self, x: Any) -> np.ndarray:
        if self.clf is None:
            return np.full(x.shape[0], self.constant)
        return _proba_columns(self.clf, x, 2)[:, 1]


@dataclass
class HeadBaseline:
    """A fitted baseline for one head; probabilities in the same layout as the model's."""

    head: Head
    n_train: int
    single: Any = None
    columns: list[_BinaryColumn] = field(default_factory=list)
    thresholds: list[float] | None = None

    def probabilities(self, x: Any) -> np.ndarray:
        if self.head.kind is HeadKind.single_label:
            return _proba_columns(self.single, x, self.head.n_outputs)
        return np.stack([c.predict(x) for c in self.columns], axis=1)


def fit_head(head: Head, x: Any, y: np.ndarray) -> HeadBaseline:
    """Fit one head on feature rows x and its 0/1 target matrix y."""
    hb = HeadBaseline(head=head, n_train=int(len(y)))
    if head.kind is HeadKind.single_label:
        hb.single = _classifier().fit(x, y.argmax(1))
    else:
        hb.columns = [_BinaryColumn().fit(x, y[:, j]) for j in range(head.n_outputs)]
    return hb


class TfidfBaseline:
    """Per-head TF-IDF + logistic regression, trained on a model's training letters; decision
    thresholds of multi-label and binary heads fitted on its dev letters as the model's are."""

    def __init__(self, schema: Schema):
        self.schema = schema
        self.features: Any = None
        self.heads: dict[str, HeadBaseline] = {}
        self.counts: dict[str, int] = {}

    def fit(self, train: Sequence[LabelledLetter], dev: Sequence[LabelledLetter] = ()) -> TfidfBaseline:
        if not train:
            raise ValueError("no training letters for the baseline")
        self.features = make_features()
        x = self.features.fit_transform([t.text for t in train])
        for head in self.schema.heads:
            rows = [i for i, t in enumerate(train) if head.name in t.labels]
            if not rows:
                continue
            y = target_matrix(head, [train[i].labels[head.name] for i in rows])
            if head.kind is HeadKind.single_label and len(np.unique(y.argmax(1))) < 2:
                continue
            self.heads[head.name] = fit_head(head, x[rows], y)
            self.counts[head.name] = len(rows)
        if dev:
            self._fit_thresholds(dev)
        return self

    def _fit_thresholds(self, dev: Sequence[LabelledLetter]) -> None:
        probs = self.probabilities([d.text for d in dev])
        for name, hb in self.heads.items():
            if hb.head.kind is HeadKind.single_label:
                continue
            rows = [i for i, d in enumerate(dev) if name in d.labels]
            if rows:
                y = target_matrix(hb.head, [dev[i].labels[name] for i in rows])
                hb.thresholds = fit_decision_thresholds(hb.head, probs[name][rows], y)

    def probabilities(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Probabilities per fitted head, rows in the order of texts."""
        if not texts:
            return {n: np.zeros((0, hb.head.n_outputs)) for n, hb in self.heads.items()}
        x = self.features.transform(list(texts))
        return {n: hb.probabilities(x) for n, hb in self.heads.items()}

    def thresholds(self, head: str) -> list[float] | None:
        hb = self.heads.get(head)
        return hb.thresholds if hb else None


def cv_probabilities(
    texts: Sequence[str], y: np.ndarray, n_classes: int, folds: int = 5, seed: int = 13
) -> np.ndarray:
    """Out-of-fold class probabilities (stratified k-fold) for integer labels y."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y, dtype=int)
    smallest = int(np.bincount(y).min()) if len(y) else 0
    k = max(2, min(folds, smallest)) if smallest >= 2 else 2
    out = np.zeros((len(y), n_classes))
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed) if smallest >= 2 else None
    splits = skf.split(np.zeros(len(y)), y) if skf else _plain_folds(len(y), k, seed)
    texts = list(texts)
    for tr, te in splits:
        feats = make_features()
        x_tr = feats.fit_transform([texts[i] for i in tr])
        x_te = feats.transform([texts[i] for i in te])
        if len(np.unique(y[tr])) < 2:
            out[te, int(y[tr][0])] = 1.0
            continue
        clf = _classifier().fit(x_tr, y[tr])
        out[te] = _proba_columns(clf, x_te, n_classes)
    return out


def _plain_folds(n: int, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    order = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(order, k)
    return [(np.concatenate([p for j, p in enumerate(parts) if j != i]), parts[i]) for i in range(k)]
