"""The n-gram blend partner: numpy inference equals scikit-learn's on the same fitted model; files round-trip."""

from __future__ import annotations

from functools import partial

import numpy as np

from xinfang.heads import blend_logits
from xinfang.labels import LabelledLetter
from xinfang.ngram_model import NgramModel, char_ngrams
from xinfang.schema import load_schema
from xinfang.training.ngram import fit_ngram_model

TEXTS = ["村支书挪用低保补贴三万元", "咨询公交线路调整", "小区噪音扰民  请处理", "局长收受红包，有转账记录",
         "希望增加停车位", "村干部优亲厚友发放补贴", "学校收费不合理", "工地夜间施工扰民"] * 3


def _letters() -> list[LabelledLetter]:
    out = []
    for i, t in enumerate(TEXTS):
        inscope = any(w in t for w in ("村", "局长"))
        out.append(LabelledLetter(id=str(i), text=t, source="jijian", labels={
            "topic": ["mass"] if inscope else ["out_of_scope"], "malicious": i % 5 == 0,
            "sector": "urban_construction" if i % 2 else "transport"}))
    return out


def test_char_ngrams_lowercase_and_collapse_whitespace():
    assert char_ngrams("Ab  c", 1, 2) == ["a", "b", " ", "c", "ab", "b ", " c"]


def test_numpy_logits_equal_sklearn_and_survive_save(tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    schema = load_schema()
    letters = _letters()
    model = fit_ngram_model(letters, schema, min_df=1)
    model.save(tmp_path / "ngram.npz")
    loaded = NgramModel.load(tmp_path / "ngram.npz")
    assert set(loaded.coef) == {"topic", "malicious", "sector"}  # only heads with labels
    probe = ["村支书挪用补贴", "公交线路", "没见过的字"]
    got = loaded.logits(probe)
    # the same features and one classifier, fitted directly with scikit-learn
    vec = TfidfVectorizer(analyzer=partial(char_ngrams, min_n=1, max_n=3), sublinear_tf=True, min_df=1)
    x = vec.fit_transform([x.text for x in letters])
    assert loaded.vocabulary == vec.vocabulary_
    y = np.array([x.labels["topic"] == ["mass"] for x in letters])
    clf = LogisticRegression(C=4.0, max_iter=1000, solver="liblinear", class_weight="balanced").fit(x, y)
    j = schema.head("topic").index("mass")
    assert np.allclose(got["topic"][:, j], clf.decision_function(vec.transform(probe)), atol=1e-4)
    assert got["topic"][0, j] > got["topic"][1, j]  # learnt something: the village letter scores higher
    assert got["sector"].shape == (3, 7)


def test_blend_weights_mix_logits():
    enc, ng = np.array([[1.0, -1.0]]), np.array([[3.0, 0.0]])
    assert np.allclose(blend_logits(enc, ng, {"encoder": 0.5, "ngram": 2.0}), [[6.5, -0.5]])
    assert blend_logits(enc, None, {"encoder": 0.5, "ngram": 2.0}) is enc
    assert blend_logits(enc, ng, None) is enc


def test_every_present_signal_gets_a_span_or_is_dropped():
    from xinfang.credibility import present_signals
    from xinfang.signals import Signal

    schema = load_schema()
    head = schema.head("credibility")
    letters = [LabelledLetter(id=str(i), text=t, source="jijian",
                              labels={"credibility": ["evidence"] if "转账" in t or "照片" in t else []})
               for i, t in enumerate(["有转账记录为证", "附照片三张", "咨询政策", "希望回复", "我有转账凭证"] * 4)]
    model = fit_ngram_model(letters, schema, min_df=1)
    text = "村主任收钱，我手里有转账截图。"
    labels, spans = present_signals(["evidence", "signed"], text, [], head.class_ids, model)
    # evidence: no rule span, so the n-gram model shows where it reads it; signed: nothing to show, dropped
    assert labels == ["evidence"]
    (span,) = spans
    assert span.source == "model" and text[span.start: span.end] == span.text and "转账" in span.text
    rule = Signal(type="evidence", text="转账截图", start=text.index("转账截图"), end=text.index("转账截图") + 4)
    labels, spans = present_signals(["evidence"], text, [rule], head.class_ids, None)
    assert [s.source for s in spans] == ["rule"]
    assert present_signals(["evidence"], text, [], head.class_ids, None) == ([], [])


def test_single_label_heads_weight_rare_classes_up():
    schema = load_schema()
    sector_only = schema.model_copy(update={"heads": [schema.head("sector")]})
    common = [LabelledLetter(id=f"c{i}", text=t, source="jijian", labels={"sector": "urban_construction"})
              for i, t in enumerate(["小区物业乱收费", "楼盘延期交房", "小区电梯故障", "拆迁补偿不公"] * 6)]
    rare = [LabelledLetter(id=f"r{i}", text=t, source="jijian", labels={"sector": "transport"})
            for i, t in enumerate(["公交线路调整", "道路拥堵"])]
    probe = ["小区门口公交线路"]  # a word of each class
    j = schema.head("sector").index("transport")

    def share(balanced: bool) -> float:
        logits = fit_ngram_model(common + rare, sector_only, min_df=1, balanced_single=balanced).logits(probe)
        p = np.exp(logits["sector"][0] - logits["sector"][0].max())
        return float(p[j] / p.sum())

    assert share(True) > share(False) + 0.05
