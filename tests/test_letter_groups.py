"""Grouped splits: one submitter's letters and near-duplicate texts never sit on both sides."""

from __future__ import annotations

import numpy as np
import pytest

from xinfang.labels import LabelledLetter
from xinfang.letter_groups import grouped_folds, grouped_split, letter_groups

BODY = "我们小区旁边的工地每天夜里施工到凌晨两点，噪音非常大，多次向街道反映没有结果，希望有关部门尽快处理。"


def _letters() -> list[LabelledLetter]:
    out = [LabelledLetter(id=f"u{i}", text=f"第{i}号问题：" + "咨询政策" * (i % 7 + 1) + str(i) * 3, source="jijian", labels={},
                          extra={"submitter": f"s{i}"}) for i in range(40)]
    out += [LabelledLetter(id="a1", text=BODY, source="jijian", labels={}, extra={"submitter": "x"}),
            LabelledLetter(id="a2", text=BODY + "谢谢。", source="tipdm2020", labels={}, extra={"submitter": "y"}),
            LabelledLetter(id="b1", text="另一封信" * 10, source="jijian", labels={}, extra={"submitter": "x"})]
    return out


def test_groups_join_submitters_and_near_duplicates_transitively():
    letters = _letters()
    g = letter_groups(letters)
    ids = [x.id for x in letters]
    assert g[ids.index("a1")] == g[ids.index("a2")] == g[ids.index("b1")]  # copy across sources + same submitter
    assert len(set(g)) == 41


def test_folds_keep_groups_whole_and_spread_rare_strata():
    letters = _letters()
    g = letter_groups(letters)
    strata = ["rare" if i % 10 == 0 else "common" for i in range(len(letters))]
    folds = grouped_folds(g, strata, k=4, seed=1)
    for group in set(g):
        assert len(set(folds[g == group])) == 1
    rare_folds = {int(f) for f, s in zip(folds, strata, strict=True) if s == "rare"}
    assert rare_folds == {0, 1, 2, 3}
    train, held = grouped_split(g, strata, 0.25, seed=1)
    assert not set(train) & set(held) and len(train) + len(held) == len(letters)
    assert 0.15 < len(held) / len(letters) < 0.35
    with pytest.raises(ValueError):
        grouped_folds(np.zeros(3, dtype=int), ["a"] * 3, k=1)
