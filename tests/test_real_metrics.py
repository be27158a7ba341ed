"""Real-letter figures: in scope or not, primary topic F1, span overlap and rare heads as rankings."""

from __future__ import annotations

import numpy as np

from xinfang.evaluation.real_metrics import rare_head_figures, span_overlap, topic_figures
from xinfang.labels import LabelledLetter


def _letter(i: int, primary: str, spans: dict | None = None) -> LabelledLetter:
    return LabelledLetter(id=str(i), text="x" * 20, source="jijian", labels={"credibility": []},
                          extra={"topic_primary": primary, "spans": spans or {}})


def test_topic_figures_count_in_scope_and_per_class_f1():
    gold = ["out_of_scope"] * 13 + ["work"] * 13 + ["life"]
    letters = [_letter(i, p) for i, p in enumerate(gold)]
    pred = ["out_of_scope"] * 13 + ["work"] * 10 + ["mass"] * 3 + ["out_of_scope"]
    f = topic_figures(letters, pred)
    assert f["in_scope_accuracy"] == round(26 / 27, 4)
    assert f["primary_accuracy"] == round(23 / 27, 4)
    assert set(f["primary_f1"]) == {"out_of_scope", "work"}  # life has fewer than 13 letters
    assert f["primary_f1"]["work"] == round(2 * 10 / (10 + 13), 4)
    assert f["primary_f1"]["out_of_scope"] == round(2 * 13 / (14 + 13), 4)


def test_span_overlap_is_character_overlap_per_signal():
    letters = [_letter(0, "work", {"signed": {"start": 0, "end": 10}})]
    found = [[{"type": "signed", "start": 5, "end": 15}, {"type": "evidence", "start": 0, "end": 5}]]
    assert span_overlap(letters, found) == {"precision": 0.3333, "recall": 0.5, "f1": 0.4}
    # on the signals both found and annotated, the wrongly detected `evidence` no longer counts
    assert span_overlap(letters, found, agreed_only=True) == {"precision": 0.5, "recall": 0.5, "f1": 0.5}


def test_rare_head_figures_rank_positives():
    y = np.zeros(20, dtype=bool)
    y[[0, 5]] = True
    score = np.linspace(1, 0, 20)  # letter 0 ranks first, letter 5 sixth
    f = rare_head_figures(y, score, score > 0.99)
    assert f["positives_in_top_10pct"] == 1 and f["flagged_positives"] == 1 and f["flag_rate"] == 0.05
