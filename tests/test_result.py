"""The one typed result: its published JSON Schema, its invariants, the routing rules and reading rows back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from xinfang.result import (
    RESULT_VERSION,
    BinaryAnswer,
    LetterResult,
    MaliciousAnswer,
    ModelRef,
    MultiLabelAnswer,
    NearDuplicateIndicator,
    Route,
    Span,
    result_json_schema,
    result_schema_text,
)
from xinfang.routing import reason_head, route, route_probabilities
from xinfang.schema import load_schema

DOCS = Path(__file__).resolve().parents[1] / "docs" / "result.schema.json"


def test_the_published_schema_is_the_generated_one():
    """docs/result.schema.json is what `python -m xinfang.result` writes; regenerate it when a result changes."""
    assert DOCS.read_text(encoding="utf-8") == result_schema_text(load_schema())
    published = json.loads(DOCS.read_text(encoding="utf-8"))
    assert published["x-result-version"] == RESULT_VERSION
    assert published["required"][:2] == ["id", "model"] and "topic" in published["required"]


def test_engine_results_validate_against_the_published_schema(tiny_model_dir):
    jsonschema = pytest.importorskip("jsonschema")
    from test_engine import LETTERS

    from xinfang.engine import Engine, LetterIn
    from xinfang.near_duplicates import NearDuplicates

    letters = [*LETTERS, LetterIn("a-again", LETTERS[0].text)]
    results = Engine(tiny_model_dir, precision="fp32").score(letters)
    policy = NearDuplicates(0.8)
    for x, r in zip(letters, results, strict=True):
        policy.annotate(r, policy.signature(x.text), "same")
    assert results[-1].duplicates and isinstance(results[-1].malicious.indicators[-1], NearDuplicateIndicator)
    validator = jsonschema.Draft202012Validator(json.loads(DOCS.read_text(encoding="utf-8")))
    for r in results:
        data = r.to_json()
        validator.validate(data)
        assert LetterResult.model_validate(data) == r
    broken = results[0].to_json()
    del broken["topic"]["primary"]
    assert not validator.is_valid(broken)


def result(**heads) -> LetterResult:
    return LetterResult(id="x", model=ModelRef(name="m", version="1", precision="fp32"),
                        route=Route(decision="auto", reasons=[]), duplicates=[], result_version=RESULT_VERSION,
                        **heads)


def test_answers_keep_their_invariants():
    with pytest.raises(ValidationError, match="primary"):
        MultiLabelAnswer(labels=["a"], primary="b", scores={"a": 0.9, "b": 0.6}, confidence=0.6)
    with pytest.raises(ValidationError, match="primary"):
        MultiLabelAnswer(labels=[], primary="a", scores={"a": 0.4}, confidence=0.6)
    with pytest.raises(ValidationError, match="reasons"):
        Route(decision="human", reasons=[])
    with pytest.raises(ValidationError, match="not a head answer"):
        LetterResult.model_validate({**result().to_json(), "topic": {"something": 1}})


def test_json_layout_round_trip_and_unversioned_rows():
    mal = MaliciousAnswer(probability=0.7, flag=True, confidence=0.7, indicators=[
        Span(type="hearsay", text="听说", start=0, end=2, source="rule"),
        NearDuplicateIndicator(count=2, same_submitter=False)])
    r = result(topic=MultiLabelAnswer(labels=[], primary=None, scores={"a": 0.1}, confidence=0.9), malicious=mal,
               abusive=BinaryAnswer(probability=0.1, flag=False, confidence=0.9))
    data = r.to_json()
    assert list(data) == ["id", "model", "topic", "malicious", "abusive", "route", "duplicates", "result_version"]
    assert LetterResult.model_validate(data) == r
    assert [type(s).__name__ for s in LetterResult.model_validate(data).spans()] == ["Span", "NearDuplicateIndicator"]
    assert data["malicious"]["indicators"][1] == {"type": "near_duplicate", "text": "", "start": -1, "end": -1,
                                                 "source": "duplicates", "count": 2, "same_submitter": False}
    quiet = r.to_json(span_texts=False)
    assert [set(s) for s in quiet["malicious"]["indicators"]] == [{"type", "start", "end", "source"},
                                                                  {"type", "start", "end", "source", "count",
                                                                   "same_submitter"}]
    assert r.to_json()["malicious"]["indicators"][0]["text"] == "听说"  # the result itself keeps its quotes
    del data["result_version"]  # a row written before the field existed
    assert LetterResult.model_validate(data).result_version == 1


def test_routing_rules():
    schema = load_schema()
    cal = {h.name: {"route": {"threshold": 0.5}} for h in schema.heads}
    probs = {"topic": np.array([0.9] + [0.01] * 8), "sector": np.array([0.9] + [0.1 / 6] * 6),
             "credibility": np.array([0.5] * 7), "malicious": np.array([0.2]), "abusive": np.array([0.1])}
    # credibility is unsure (0.5 < 0.5? no: exactly at the threshold) and never routes anyway (routes: false)
    assert route_probabilities(schema, cal, probs) == Route(decision="auto", reasons=[])
    unsure = {**probs, "sector": np.full(7, 1 / 7), "credibility": np.full(7, 0.45)}
    (reason,) = route_probabilities(schema, cal, unsure).reasons
    assert reason_head(reason) == "sector" and "below the auto-route threshold 0.50" in reason
    flagged = route_probabilities(schema, cal, {**probs, "malicious": np.array([0.8]), "abusive": np.array([0.9])})
    assert [reason_head(r) for r in flagged.reasons] == ["malicious", "abusive"]
    mal = MaliciousAnswer(probability=0.8, flag=True, confidence=0.8,
                          indicators=[Span(type="threat", text="曝光", start=0, end=2, source="rule")])
    conf = {h.name: 1.0 for h in schema.heads}
    assert route(schema, cal, {"malicious": mal}, conf).reasons == [
        "malicious: possible false or malicious report; a person must review it (indicators: threat)"]


def test_evaluation_routes_letters_as_the_engine_does(tiny_model_dir):
    """xinfang.evaluation.routing reads probabilities only; its routes are the engine's (without evidence)."""
    from test_engine import LETTERS

    from xinfang.engine import Engine
    from xinfang.evaluation.routing import route_letters

    engine = Engine(tiny_model_dir, precision="fp32", with_signals=False)
    probs = engine.probabilities([x.text for x in LETTERS])
    served = engine.score(LETTERS)
    report = route_letters(engine.schema, engine.calibration, [x.id for x in LETTERS], probs)
    assert report["routed"] == sum(r.route.decision == "human" for r in served)
    by_id = {x["id"]: x["reasons"] for x in report["letters"]}
    assert by_id == {r.id: r.route.reasons for r in served if r.route.decision == "human"}


def test_a_head_may_not_take_a_result_field_name(tiny_model_dir, tmp_path):
    import shutil

    import yaml

    from xinfang.engine import Engine

    folder = tmp_path / "m" / "v1"
    shutil.copytree(tiny_model_dir, folder)
    schema = yaml.safe_load((folder / "schema.yaml").read_text(encoding="utf-8"))
    schema["heads"][-1]["name"] = "route"
    (folder / "schema.yaml").write_text(yaml.safe_dump(schema, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="route"):
        Engine(folder, precision="fp32")


def test_resume_reads_rows_back_typed_and_refuses_unreadable_ones():
    from xinfang.batch.writer import ResultCodec
    from xinfang.errors import XinfangError

    codec = ResultCodec("jsonl", load_schema())
    r = result(abusive=BinaryAnswer(probability=0.1, flag=False, confidence=0.9))
    assert codec.decode(codec.encode(r)) == r
    with pytest.raises(ValueError):
        codec.decode('{"no": "id"}\n')  # not a result row: a torn or foreign line
    bad = {**r.to_json(), "abusive": {"probability": 2.0, "flag": False, "confidence": 0.9}}
    with pytest.raises(XinfangError, match="restart"):
        codec.decode(json.dumps(bad) + "\n")


def test_the_published_schema_names_no_heads_without_a_label_schema():
    assert "topic" not in result_json_schema()["properties"]
    assert "topic" in result_json_schema(load_schema())["properties"]
