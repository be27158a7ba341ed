"""Fitting the character n-gram blend partner (xinfang.ngram_model) with scikit-learn: TF-IDF over the
core's own analyzer, one logistic regression per head (per class for multi-label and binary heads)."""

from __future__ import annotations

from functools import partial

import numpy as np

from xinfang.heads import target_matrix
from xinfang.labels import LabelledLetter
from xinfang.ngram_model import NgramModel, char_ngrams
from xinfang.schema import Head, HeadKind, Schema
from xinfang.text import normalise


def _fit_head(head: Head, x, y: np.ndarray, c: float, balanced: bool = True  # noqa: ANN001
              ) -> tuple[np.ndarray, np.ndarray]:
    """(features x outputs weights, intercepts); a class with one value in training gets its log-odds prior.
    `balanced` weights a single-label head's classes inversely to their frequency (per-class heads always are)."""
    from sklearn.linear_model import LogisticRegression

    if head.kind is HeadKind.single_label:
        cls = y.argmax(1)
        clf = LogisticRegression(C=c, max_iter=1000, solver="lbfgs",
                                 class_weight="balanced" if balanced else None).fit(x, cls)
        coef = np.zeros((x.shape[1], head.n_outputs))
        inter = np.full(head.n_outputs, -10.0)
        if len(clf.classes_) > 2:
            coef[:, clf.classes_] = clf.coef_.T
            inter[clf.classes_] = clf.intercept_
        else:  # scikit-learn keeps one row for two classes: the second class's log-odds
            coef[:, clf.classes_[1]] = clf.coef_[0]
            inter[clf.classes_] = [0.0, clf.intercept_[0]]
        return coef, inter
    coef = np.zeros((x.shape[1], head.n_outputs))
    inter = np.zeros(head.n_outputs)
    for j in range(head.n_outputs):
        col = y[:, j]
        if col.min() == col.max():
            p = np.clip(col.mean(), 1e-3, 1 - 1e-3)
            inter[j] = np.log(p / (1 - p))
            continue
        clf = LogisticRegression(C=c, max_iter=1000, solver="liblinear", class_weight="balanced").fit(x, col)
        coef[:, j] = clf.coef_[0]
        inter[j] = clf.intercept_[0]
    return coef, inter


def fit_ngram_model(letters: list[LabelledLetter], schema: Schema, max_features: int = 60000,
                    min_df: int = 2, c: float = 4.0, c_single: float = 30.0, balanced_single: bool = True
                    ) -> NgramModel:
    """Fit on the letters labelled for each head (texts normalised as the engine normalises them). `c` is the
    inverse regularisation of the per-class classifiers, `c_single` of the single-label heads' (measured on the
    real dev split: sector accuracy 0.775 at C=4, 0.819 at 10, 0.830 at 30; topic and credibility flat in C).
    `balanced_single` weights single-label classes by inverse frequency: grouped 5-fold CV, sector alone, raised
    jijian accuracy 0.827 -> 0.849 and macro-F1 0.726 -> 0.785, tipdm2020 0.727 -> 0.790 and 0.711 -> 0.780
    (benchmarks/ngram_sector.py)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer=partial(char_ngrams, min_n=1, max_n=3), sublinear_tf=True, min_df=min_df,
                          max_features=max_features, dtype=np.float64)
    x_all = vec.fit_transform([normalise(x.text) for x in letters])
    coef, inter = {}, {}
    for head in schema.heads:
        rows = [i for i, x in enumerate(letters) if head.name in x.labels]
        if not rows:
            continue
        y = target_matrix(head, [letters[i].labels[head.name] for i in rows])
        single = head.kind is HeadKind.single_label
        coef[head.name], inter[head.name] = _fit_head(head, x_all[rows], y, c_single if single else c,
                                                      balanced_single)
    return NgramModel(vocabulary={t: int(j) for t, j in vec.vocabulary_.items()}, idf=vec.idf_.copy(),
                      coef=coef, intercept=inter)
