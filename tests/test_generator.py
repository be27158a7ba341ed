"""Tests of the synthetic letter generator (training/generator): labels, spans, splits, determinism."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from xinfang.training.generator import GeneratedLetter, SignalSpan, generate_letters
from xinfang.training.generator.catalog import Catalog
from xinfang.training.generator.cnnum import to_chinese
from xinfang.training.generator.idcard import check_char, is_valid_id
from xinfang.training.generator.resources import load_resources
from xinfang.training.generator.split import held_out_ids, template_side
from xinfang.training.generator.template import TemplateSyntaxError, parse, slot_names

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ["political", "organizational", "integrity", "mass", "work", "life", "duty_crime", "gang_protection",
          "out_of_scope"]
SIGNALS = ["named_subject", "specific_time", "specific_place", "specific_amount", "evidence", "first_hand",
           "signed"]
# Template families whose use marks a strong malicious-report indicator (see indicators.yaml).
STRONG_FAMILIES = {"grudge", "threat", "exaggeration", "mass_copy", "disproportionate", "abuse", "vague_claim"}
HEARSAY_FAMILIES = {"hearsay_prefix", "hearsay_sentence"}
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


@pytest.fixture(scope="module")
def train() -> list[GeneratedLetter]:
    return generate_letters(600, seed=11)


@pytest.fixture(scope="module")
def held_out() -> list[GeneratedLetter]:
    return generate_letters(300, seed=11, split="test")


def _families(letter: GeneratedLetter) -> set[str]:
    return {t.rsplit(".", 1)[0] for t in letter.template_ids}


# --------------------------------------------------------------------------- API and determinism
def test_api_types_and_to_dict() -> None:
    letter = generate_letters(1, seed=5)[0]
    assert isinstance(letter, GeneratedLetter)
    assert all(isinstance(s, SignalSpan) for s in letter.spans)
    d = letter.to_dict()
    assert list(d) == ["id", "text", "topic", "topic_primary", "credibility", "spans", "malicious",
                       "template_ids", "split", "source"]
    assert d["source"] == "generated"
    assert json.loads(json.dumps(d, ensure_ascii=False)) == d
    assert all(set(s) == {"type", "start", "end", "text"} for s in d["spans"])
    assert all(set(vars(s)) == {"type", "start", "end", "text"} for s in letter.spans)  # used by training/data.py


def test_deterministic_and_seed_sensitive() -> None:
    a = [x.to_dict() for x in generate_letters(40, seed=3)]
    assert a == [x.to_dict() for x in generate_letters(40, seed=3)]
    assert a[:10] == [x.to_dict() for x in generate_letters(10, seed=3)]  # letter i does not depend on n
    other = [x["text"] for x in (y.to_dict() for y in generate_letters(40, seed=4))]
    assert sum(x["text"] == y for x, y in zip(a, other, strict=True)) == 0
    dev = [x.text for x in generate_letters(40, seed=3, split="dev")]
    assert sum(x["text"] == y for x, y in zip(a, dev, strict=True)) == 0


def test_deterministic_across_processes() -> None:
    code = ("import hashlib,json;from xinfang.training.generator import generate_letters as g;"
            "print(hashlib.sha1(json.dumps([x.to_dict() for x in g(25, seed=9)]).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")}
    assert len(digests) == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        generate_letters(1, split="validation")
    with pytest.raises(ValueError):
        generate_letters(1, malicious_rate=1.5)
    assert generate_letters(0) == []


def test_label_ids_match_schema() -> None:
    from xinfang.schema import load_schema

    schema = load_schema()
    cfg = load_resources().config["labels"]
    assert cfg["topic"] == schema.head("topic").class_ids == TOPICS
    assert cfg["credibility"] == schema.head("credibility").class_ids == SIGNALS


# --------------------------------------------------------------------------- labels and spans
def test_spans_exact_and_labels_consistent(train: list[GeneratedLetter], held_out: list[GeneratedLetter]) -> None:
    for x in train + held_out:
        assert 80 <= len(x.text) <= 2000, (x.id, len(x.text))
        for s in x.spans:
            assert s.type in SIGNALS
            assert 0 <= s.start < s.end <= len(x.text)
            assert x.text[s.start:s.end] == s.text
            assert s.text == s.text.strip()
        assert x.credibility == [c for c in SIGNALS if c in {s.type for s in x.spans}]
        assert x.topic == [t for t in TOPICS if t in set(x.topic)] and x.topic
        assert x.topic_primary in x.topic
        assert isinstance(x.malicious, bool)
        assert x.spans == sorted(x.spans, key=lambda s: s.start)
        assert len(x.template_ids) == len(set(x.template_ids))


def test_every_class_appears(train: list[GeneratedLetter]) -> None:
    sample = train[:500]
    assert set(TOPICS) <= {t for x in sample for t in x.topic}
    assert set(TOPICS) <= {x.topic_primary for x in sample}
    assert set(SIGNALS) <= {c for x in sample for c in x.credibility}
    assert any(len(x.topic) > 1 for x in sample) and any(len(x.topic) == 1 for x in sample)
    assert any(x.malicious for x in sample) and not all(x.malicious for x in sample)


def test_malicious_rate_follows_argument() -> None:
    for rate in (0.0, 0.2, 0.5):
        letters = generate_letters(400, seed=21, malicious_rate=rate)
        share = sum(x.malicious for x in letters) / len(letters)
        assert abs(share - rate) < 0.06, (rate, share)


def test_malicious_is_a_combination_of_indicators(train: list[GeneratedLetter]) -> None:
    def n_strong(x: GeneratedLetter) -> int:
        fams = _families(x)
        return len(fams & STRONG_FAMILIES) + bool(fams & HEARSAY_FAMILIES)

    mal = [x for x in train if x.malicious]
    gen = [x for x in train if not x.malicious]
    assert all(n_strong(x) >= 3 for x in mal)
    assert all(n_strong(x) <= 2 for x in gen)
    # no single indicator family decides: each strong family also occurs in genuine letters
    seen_in_genuine = {f for x in gen for f in _families(x) if f in STRONG_FAMILIES | HEARSAY_FAMILIES}
    assert {"grudge", "threat", "exaggeration", "mass_copy", "abuse"} <= seen_in_genuine
    # and malicious letters do carry signals sometimes (a name, a date, even a signature)
    assert {"named_subject", "specific_time", "signed"} <= {c for x in mal for c in x.credibility}


def _outside(letter: GeneratedLetter, pattern: re.Pattern[str], span_type: str) -> list[str]:
    """Matches of ``pattern`` not inside a span of ``span_type``."""
    text = letter.text.translate(_FULLWIDTH)
    inside = [(s.start, s.end) for s in letter.spans if s.type == span_type]
    return [m.group(0) for m in pattern.finditer(text)
            if not any(a <= m.start() and m.end() <= b for a, b in inside)]


CUES = {
    "specific_time": re.compile(r"(?:19|20)\d\d年|\d{1,2}月\d{1,2}[日号]|去年|前年|上个月|上周|春节|国庆|中秋|端午|元旦"),
    "specific_amount": re.compile(r"\d+(?:\.\d+)?(?:万|千)?(?:元|块)|[一二三四五六七八九十两百千万]+多?(?:元|块钱)|\d+[%％]"),
    "evidence": re.compile(r"照片|录音|转账记录|聊天记录|截图|视频|流水单|复印件"),
    "first_hand": re.compile(r"亲眼|亲耳|亲身|亲自经手|就是受害"),
    "signed": re.compile(r"1[3-9]\d[- ]?\d{4}[- ]?\d{4}|\d{17}[\dXx]"),
}


def test_strong_cues_only_inside_their_spans(train: list[GeneratedLetter]) -> None:
    """A date, a sum, 照片/录音, 亲眼 or a phone number outside the matching span would be a wrong label."""
    for signal, pattern in CUES.items():
        bad = [(x.id, m) for x in train for m in _outside(x, pattern, signal)]
        assert not bad, (signal, bad[:5])


def test_no_single_phrase_gives_a_label_away(train: list[GeneratedLetter]) -> None:
    """For every label, no character 6-gram is in at least half of the positive letters while in at most
    5% of the negatives (far stricter than the 95%/5% a fixed giveaway phrase would show)."""
    labels: dict[str, list[bool]] = {}
    for t in TOPICS:
        labels[f"topic={t}"] = [t in x.topic for x in train]
    for c in SIGNALS:
        labels[f"credibility={c}"] = [c in x.credibility for x in train]
    labels["malicious"] = [x.malicious for x in train]
    grams = [{x.text[i:i + 6] for i in range(len(x.text) - 5)} for x in train]
    offenders = {}
    for name, ys in labels.items():
        pos = Counter(g for gs, y in zip(grams, ys, strict=True) if y for g in gs)
        neg = Counter(g for gs, y in zip(grams, ys, strict=True) if not y for g in gs)
        n_pos, n_neg = sum(ys), len(ys) - sum(ys)
        for g, k in pos.items():
            if k >= 0.5 * n_pos and neg[g] <= 0.05 * n_neg:
                offenders[name] = (g, k / n_pos, neg[g] / n_neg)
    assert not offenders, offenders


def test_id_numbers_in_signatures_are_valid(train: list[GeneratedLetter]) -> None:
    ids = [s.text for x in train for s in x.spans if s.type == "signed"
           and re.fullmatch(r"\d{17}[\dX]", s.text.translate(_FULLWIDTH))]
    assert len(ids) >= 10
    assert all(is_valid_id(i) for i in ids)


def test_id_checksum() -> None:
    assert check_char("11010519491231002") == "X"  # the example of GB 11643-1999
    assert is_valid_id("11010519491231002X") and is_valid_id("１１０１０５１９４９１２３１００２Ｘ")
    assert not is_valid_id("110105194912310021")
    assert not is_valid_id("110105194902300021")  # no 30 February


# --------------------------------------------------------------------------- held-out templates
def test_test_split_uses_only_held_out_templates(train: list[GeneratedLetter],
                                                 held_out: list[GeneratedLetter]) -> None:
    train_ids = {t for x in train for t in x.template_ids}
    test_ids_used = {t for x in held_out for t in x.template_ids}
    dev_ids = {t for x in generate_letters(200, seed=11, split="dev") for t in x.template_ids}
    assert train_ids.isdisjoint(test_ids_used)
    assert dev_ids.isdisjoint(test_ids_used)
    catalog = load_resources().catalog
    held = {t.id for name in catalog.families for t in catalog.pool(name, "test")}
    assert test_ids_used <= held and train_ids.isdisjoint(held)
    assert set(TOPICS) <= {t for x in held_out for t in x.topic}


def test_partition_is_stable_and_covers_every_family() -> None:
    catalog: Catalog = load_resources().catalog
    for name, templates in catalog.families.items():
        assert len(catalog.pool(name, "test")) >= 1 and len(catalog.pool(name, "train")) >= 1, name
        share = len(catalog.pool(name, "test")) / len(templates)
        assert share <= 0.5, name
    ids = [f"fam.{i}" for i in range(10)]
    assert held_out_ids(ids) == held_out_ids(list(reversed(ids))) and len(held_out_ids(ids)) == 2
    assert template_side("dev") == "train" and template_side("test") == "test"


# --------------------------------------------------------------------------- data files and helpers
def test_data_files_are_consistent() -> None:
    res = load_resources()
    known_slots = {"S", "G", "H", "T", "P", "A", "V", "E", "R", "N", "C", "J", "B", "U", "POST", "AREA", "SELF",
                   "NAME", "PHONE", "IDNO", "ADDR"}
    kinds = set(res.lex["unit_kinds"])
    for t in res.catalog.all_templates():
        assert t.slots <= known_slots, (t.id, t.slots - known_slots)
        assert set(t.units) <= kinds, (t.id, set(t.units) - kinds)
        if t.span:
            assert t.span in SIGNALS
            assert not (t.slots & {"S", "G", "T", "P", "A", "V", "E", "NAME", "PHONE", "IDNO", "ADDR"}), t.id
    for topic in TOPICS:
        assert len(res.catalog.families[f"problem.{topic}"]) >= 8, topic
        assert f"elab.{topic}" in res.catalog.families
        assert all(t.units for t in res.catalog.families[f"problem.{topic}"])


def test_template_parser() -> None:
    parts = parse("{S}在{P:eat,}[吃|喝[酒|茶]|]。")
    assert slot_names(parts) == {"S", "P"}
    for bad in ("[a|b", "a]b", "{S", "{s}"):
        with pytest.raises(TemplateSyntaxError):
            parse(bad)


def test_chinese_numerals() -> None:
    assert [to_chinese(n) for n in (10, 15, 200, 2000, 3050, 20000, 120000, 1500)] == [
        "十", "十五", "两百", "两千", "三千零五十", "两万", "十二万", "一千五百"]


def test_speed() -> None:
    t0 = time.perf_counter()
    generate_letters(1000, seed=2)
    assert time.perf_counter() - t0 < 8.0  # 5,000 letters take well under 30 s


def test_cli_writes_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "letters.jsonl"
    subprocess.run([sys.executable, "-m", "xinfang.training.generator", "--n", "5", "--seed", "1", "--split", "train",
                    "-o", str(out)], cwd=ROOT, check=True, capture_output=True)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [x.id for x in generate_letters(5, seed=1)]
    assert all(r["source"] == "generated" and r["split"] == "train" for r in rows)
    shown = subprocess.run([sys.executable, "-m", "xinfang.training.generator", "--n", "2"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout
    assert "gen-train-0-000000" in shown and "topic=" in shown
