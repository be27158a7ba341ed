"""Engine: result shape per schema, window aggregation, batching independence, spans into the text."""

from __future__ import annotations

import numpy as np
import pytest

from xinfang.engine import Engine, LetterIn
from xinfang.model_folder import ModelFolder, ModelNotFound

LETTERS = [
    LetterIn("a", "我实名举报某街道办副主任王某某，2019年3月在某小区工地收受红包5万元，有转账记录为证。联系电话13912345678"),
    LetterIn("b", "听说村支书无恶不作，所有人都知道，不处理就去网上曝光！"),
    LetterIn("c", "公交线路太少。" * 60),  # several windows
    LetterIn("d", "短"),
]


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return Engine(tiny_model_dir, precision="int8")


def test_result_shape_follows_schema(engine):
    from xinfang.result import (
        RESULT_VERSION,
        BinaryAnswer,
        CredibilityAnswer,
        LetterResult,
        MaliciousAnswer,
        MultiLabelAnswer,
        SingleLabelAnswer,
    )

    results = engine.score(LETTERS)
    assert [r.id for r in results] == ["a", "b", "c", "d"]
    schema = engine.schema
    kinds = {"topic": MultiLabelAnswer, "sector": SingleLabelAnswer, "credibility": CredibilityAnswer,
             "malicious": MaliciousAnswer, "abusive": BinaryAnswer}
    for r in results:
        assert isinstance(r, LetterResult) and r.result_version == RESULT_VERSION
        assert {h: type(a) for h, a in r.heads.items()} == kinds  # in schema order, each of its head's type
        assert r.model.name == "tiny" and r.model.version == "v0"
        assert list(r.topic.scores) == schema.head("topic").class_ids
        assert r.sector.label in schema.head("sector").class_ids
        assert abs(sum(r.sector.scores.values()) - 1.0) < 1e-3
        assert 0.0 <= r.credibility.score <= 1.0
        assert 0.0 <= r.malicious.probability <= 1.0 and 0.0 <= r.abusive.probability <= 1.0
        assert (r.route.decision == "human") == bool(r.route.reasons)
        # the JSON keeps the layout external checks read: heads at the top level, between model and route
        data = r.to_json()
        assert list(data) == ["id", "model", *schema.head_names, "route", "duplicates", "result_version"]
        assert LetterResult.model_validate(data) == r


def test_credibility_primary_is_one_of_its_labels(engine):
    """A signal dropped for want of evidence is no longer the primary one (the untyped result kept it)."""
    for r in engine.score(LETTERS):
        cred = r.credibility
        assert cred.primary in cred.labels if cred.labels else cred.primary is None
        if cred.labels:  # the likeliest of the signals kept
            assert cred.scores[cred.primary] == max(cred.scores[c] for c in cred.labels)


def test_one_credibility_answer_with_spans_into_the_original_text(engine):
    r = engine.score(LETTERS[:2])
    text = LETTERS[0].text
    cred = r[0].credibility
    # one answer: every present signal carries evidence, and every evidence span belongs to a present signal
    assert {s.type for s in cred.signals} == set(cred.labels)
    for s in cred.signals:
        assert text[s.start: s.end] == s.text
    assert {i.type for i in r[1].malicious.indicators} >= {"hearsay", "threat"}


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_scores_do_not_depend_on_batch_company(tiny_model_dir, precision):
    # int8 activation scales are fixed at export (static quantisation), so a letter's scores do not move
    # with the other letters of its batch, nor with the padding they bring, on any CPU
    atol = 1e-4
    engine = Engine(tiny_model_dir, precision=precision)
    together = engine.probabilities([x.text for x in LETTERS])
    for i, x in enumerate(LETTERS):
        alone = engine.probabilities([x.text])
        for h in together:
            assert np.allclose(together[h][i], alone[h][0], atol=atol)


def test_fp32_and_missing_model(tiny_model_dir, tmp_path):
    e = Engine(tiny_model_dir, precision="fp32")
    assert e.score(LETTERS[:1])[0].model.precision == "fp32"
    with pytest.raises(ModelNotFound):
        ModelFolder.resolve(tmp_path, "nope")
    assert ModelFolder.resolve(tiny_model_dir.parent.parent, "tiny/v0").path == tiny_model_dir.resolve()


def test_auto_precision_follows_export_parity(tiny_model_dir, tmp_path):
    import json
    import shutil

    folder = tmp_path / "m" / "v1"
    shutil.copytree(tiny_model_dir, folder)
    assert Engine(folder).precision == "int8"  # no card: nothing says int8 failed
    (folder / "model_card.json").write_text(json.dumps({"export": {"int8_min_agreement": 0.95}}))
    assert ModelFolder(folder).resolve_precision("auto") == "fp32"
    assert Engine(folder).precision == "fp32"
    assert Engine(folder, precision="int8").precision == "int8"  # asked for explicitly
    (folder / "model_card.json").write_text(json.dumps({"export": {"int8_min_agreement": 0.99}}))
    assert ModelFolder(folder).resolve_precision("auto") == "int8"
    with pytest.raises(ValueError):
        ModelFolder(folder).resolve_precision("int4")


def test_a_head_that_does_not_route_never_sends_a_letter_to_a_person(tiny_model_dir, tmp_path):
    import json
    import shutil

    import yaml

    folder = tmp_path / "m" / "v1"
    shutil.copytree(tiny_model_dir, folder)
    cal = json.loads((folder / "calibration.json").read_text())
    for head in cal.values():
        head["route"] = {"threshold": 0.0}
    cal["credibility"]["route"] = {"threshold": 1.01}  # nothing is ever this sure
    (folder / "calibration.json").write_text(json.dumps(cal))
    schema = yaml.safe_load((folder / "schema.yaml").read_text(encoding="utf-8"))
    for routes in (True, False):
        next(h for h in schema["heads"] if h["name"] == "credibility")["routes"] = routes
        (folder / "schema.yaml").write_text(yaml.safe_dump(schema, allow_unicode=True), encoding="utf-8")
        r = Engine(folder, precision="fp32").score(LETTERS[:1])[0]
        assert any(x.startswith("credibility:") for x in r.route.reasons) is routes


def test_an_exclusive_class_is_the_whole_answer_when_it_ranks_first():
    from xinfang.heads import multi_label_answer

    ids = ["work", "mass", "out_of_scope"]
    p = np.array([0.7, 0.2, 0.55])
    # chosen beside a likelier in-scope class, out_of_scope is dropped: the letter goes where it most likely belongs
    assert multi_label_answer(p, np.array([1, 0, 1]), ids, {"out_of_scope"}) == (["work"], "work")
    p_oos = np.array([0.5, 0.2, 0.9])
    assert multi_label_answer(p_oos, np.array([1, 1, 1]), ids, {"out_of_scope"}) == (["out_of_scope"], "out_of_scope")
    assert multi_label_answer(p, np.array([1, 0, 1]), ids, set()) == (["work", "out_of_scope"], "work")
    assert multi_label_answer(p, np.array([1, 1, 0]), ids, {"out_of_scope"}) == (["work", "mass"], "work")
    assert multi_label_answer(p, np.array([0, 0, 0]), ids, {"out_of_scope"}) == ([], None)


def test_primary_ranking_corrects_for_class_priors():
    from xinfang.heads import multi_label_answer, primary_rank

    ids = ["work", "duty_crime", "out_of_scope"]
    p = np.array([0.6, 0.5, 0.1])
    rule = {"alpha": 0.5, "log_prior": np.log([0.4, 0.04, 0.6]).tolist()}
    chosen = np.array([1, 1, 0])
    assert multi_label_answer(p, chosen, ids, {"out_of_scope"}, primary_rank(p, None)) == (["work", "duty_crime"],
                                                                                            "work")
    # the rare class chosen at nearly the same probability is primary once priors are corrected for
    assert multi_label_answer(p, chosen, ids, {"out_of_scope"}, primary_rank(p, rule)) == (["work", "duty_crime"],
                                                                                            "duty_crime")
    # the correction only reorders chosen classes: an unchosen class never becomes primary
    assert multi_label_answer(p, np.array([1, 0, 0]), ids, {"out_of_scope"}, primary_rank(p, rule))[1] == "work"
