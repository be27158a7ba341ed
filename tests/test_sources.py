"""Labelled sources in the core: jijian real letters, tipdm2020, COLD, read without torch."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from xinfang.config import Settings
from xinfang.errors import InputFileError
from xinfang.schema import Schema, load_schema
from xinfang.sources import JIJIAN_LETTERS, find_data_file, load_jijian, load_tipdm


def _jijian_record(**over) -> dict:
    rec = {"id": "tipdm-1", "title": "反映村干部问题", "text": "张三村主任2019年3月侵占补贴5000元。",
           "submitter": "U1", "time": "2019/3/29 11:53:23",
           "topic": ["mass", "duty_crime"], "topic_primary": "mass", "sector": "劳动和社会保障",
           "credibility": ["named_subject", "specific_amount"],
           "spans": {"named_subject": {"text": "张三村主任", "start": 8, "end": 13},
                     "specific_amount": {"text": "5000元", "start": 24, "end": 29}},
           "malicious": 0, "abusive": 1,
           "provenance": {"annotations": 2, "malicious_level": "low", "malicious_indicators": ["grudge"],
                          "sector_raw": "劳动和社会保障"}}
    rec.update(over)
    return rec


def _write(tmp_path: Path, records: list[dict]) -> Path:
    p = tmp_path / "letters.jsonl"
    p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return p


def test_jijian_labels_text_and_extra(tmp_path):
    (x,) = load_jijian(_write(tmp_path, [_jijian_record()]), load_schema())
    assert x.id == "tipdm-1" and x.source == "jijian"
    assert x.text == "反映村干部问题\n张三村主任2019年3月侵占补贴5000元。"
    assert x.labels == {"topic": ["mass", "duty_crime"], "sector": "labour_social_security",
                        "credibility": ["named_subject", "specific_amount"], "malicious": False, "abusive": True}
    for span in x.extra["spans"].values():  # offsets point into title + "\n" + text
        assert x.text[span["start"]:span["end"]] == span["text"]
    assert x.extra["topic_primary"] == "mass" and x.extra["submitter"] == "U1"
    assert x.extra["malicious_level"] == "low" and x.extra["malicious_indicators"] == ["grudge"]


def test_jijian_absent_heads_stay_unlabelled(tmp_path):
    rec = _jijian_record(credibility=[], spans={}, provenance={"sector_raw": "other", "malicious_level": "medium",
                                                               "malicious_indicators": ["hearsay"]}, malicious=1)
    for key in ("sector", "topic", "topic_primary", "abusive"):
        del rec[key]
    (x,) = load_jijian(_write(tmp_path, [rec]), load_schema())
    assert x.labels == {"credibility": [], "malicious": True}  # no signal present is a label, not a gap
    assert x.extra["topic_primary"] is None and x.extra["malicious_level"] == "medium"


def test_jijian_only_heads_the_schema_has(tmp_path):
    schema = load_schema()
    small = Schema(name="small", heads=[h for h in schema.heads if h.name in {"sector", "abusive"}])
    (x,) = load_jijian(_write(tmp_path, [_jijian_record()]), small)
    assert set(x.labels) == {"sector", "abusive"}


def test_jijian_bad_class_names_line_and_field(tmp_path):
    path = _write(tmp_path, [_jijian_record(), _jijian_record(id="tipdm-2", sector="火星")])
    with pytest.raises(InputFileError) as err:
        load_jijian(path, load_schema())
    assert err.value.line == 2 and err.value.field == "sector"


def test_tipdm_reads_sector(tmp_path):
    p = tmp_path / "labeled.jsonl"
    p.write_text(json.dumps({"id": 7, "title": "t", "text": "x", "sector": "环境保护"}, ensure_ascii=False) + "\n",
                 encoding="utf-8")
    (x,) = load_tipdm(p, load_schema())
    assert (x.id, x.text, x.labels, x.source) == ("7", "t\nx", {"sector": "environment"}, "tipdm2020")


def test_real_jijian_counts_match_its_readme():
    path = find_data_file(Settings(), JIJIAN_LETTERS)
    if path is None:
        pytest.skip("shared jijian data not present")
    letters = load_jijian(path, load_schema())
    assert len(letters) == len({x.id for x in letters}) == 2000
    primary = Counter(x.extra["topic_primary"] for x in letters)
    assert primary["out_of_scope"] == 1413 and primary["work"] == 355 and primary[None] == 9
    assert sum(x.labels.get("malicious", False) for x in letters) == 19
    assert sum(x.labels.get("abusive", False) for x in letters) == 16
    assert sum("sector" not in x.labels for x in letters) == 239  # 233 "other" + 6 without an agreed sector
    for x in letters:
        for span in x.extra["spans"].values():
            assert x.text[span["start"]:span["end"]] == span["text"]
