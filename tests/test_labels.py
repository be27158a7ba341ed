"""Labelled-letter files: JSONL and CSV, any subset of heads; bad rows name file, line and field."""

import json

import pytest

from xinfang.errors import InputFileError
from xinfang.labels import read_labelled
from xinfang.schema import load_schema


def test_jsonl_and_csv(tmp_path):
    schema = load_schema()
    p = tmp_path / "a.jsonl"
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"id": 1, "text": "某局长收钱", "topic": ["integrity", "违反工作纪律"], "malicious": 0},
        {"id": 2, "text": "公交线路太少", "sector": "交通运输"},
    ]), encoding="utf-8")
    letters = read_labelled(p, schema)
    assert letters[0].labels == {"topic": ["integrity", "work"], "malicious": False}
    assert letters[1].labels == {"sector": "transport"}
    c = tmp_path / "b.csv"
    c.write_text("id,text,topic,abusive\nx,你好,mass|life,1\ny,再见,,0\n", encoding="utf-8")
    letters = read_labelled(c, schema)
    assert letters[0].labels == {"topic": ["mass", "life"], "abusive": True}
    assert letters[1].labels == {"abusive": False}


@pytest.mark.parametrize(("content", "line", "field"), [
    ('{"id": 1, "text": "a"}\n{"id": 2, "text": "b", "sector": "火星"}\n', 2, "sector"),
    ('{"id": 1, "text": "a", "colour": "x"}\n', 1, "colour"),
    ('{"id": 1, "text": "  "}\n', 1, "text"),
    ('{"id": 1, "text": "a"}\n{oops\n', 2, None),
    ('{"id": 1, "text": "a", "malicious": "maybe"}\n', 1, "malicious"),
])
def test_bad_rows(tmp_path, content, line, field):
    p = tmp_path / "bad.jsonl"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        read_labelled(p, load_schema())
    assert err.value.line == line and err.value.field == field
    assert str(p) in str(err.value)
