"""Label schema: the default profile validates; malformed files fail naming file, line and field."""

from pathlib import Path

import pytest

from xinfang.errors import InputFileError
from xinfang.schema import HeadKind, load_schema, parse_schema


def test_default_schema_heads():
    s = load_schema()
    assert s.head_names == ["topic", "sector", "credibility", "malicious", "abusive"]
    assert s.head("topic").kind is HeadKind.multi_label and s.head("topic").n_outputs == 9
    assert s.head("sector").kind is HeadKind.single_label and s.head("sector").n_outputs == 7
    assert s.head("credibility").n_outputs == 7
    assert s.head("malicious").n_outputs == 1 and s.head("abusive").kind is HeadKind.binary
    assert s.head("sector").index("卫生计生") == 6
    assert s.head("sector").index("transport") == 2


def test_roundtrip_yaml():
    s = load_schema()
    assert parse_schema(s.to_yaml()) == s


def _default_text() -> str:
    return Path(__import__("xinfang").__file__).with_name("schemas").joinpath("default.yaml").read_text("utf-8")


@pytest.mark.parametrize(
    ("old", "new", "field", "line_of"),
    [
        ("kind: binary", "kind: bimodal", "heads.3.kind", "kind: bimodal"),
        ("{id: life, zh: 违反生活纪律}", "{id: Life, zh: 违反生活纪律}", "heads.0.classes.5.id", "{id: Life"),
        ("{id: work, zh: 违反工作纪律}", "{id: mass, zh: 违反工作纪律}", "heads.0", "- name: topic"),
    ],
)
def test_bad_schema_names_file_line_field(tmp_path, old, new, field, line_of):
    text = _default_text().replace(old, new, 1)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        load_schema(bad)
    expected_line = next(i for i, ln in enumerate(text.splitlines(), 1) if line_of in ln)
    assert err.value.path == str(bad)
    assert err.value.field == field
    assert err.value.line == expected_line
    assert str(bad) in str(err.value) and field in str(err.value)


def test_unknown_top_level_key(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("name: x\nheads: []\ncolour: red\n", encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        load_schema(bad)
    assert err.value.line in {2, 3}


def test_invalid_yaml_has_line(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("name: x\nheads:\n  - name: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        load_schema(bad)
    assert err.value.line is not None


def test_binary_head_needs_one_class():
    text = _default_text().replace("- {id: abusive, zh: 冒犯性语言}", "- {id: abusive, zh: 冒犯性语言}\n      - {id: safe, zh: 安全}")
    with pytest.raises(InputFileError, match="exactly one class"):
        parse_schema(text, "s.yaml")
