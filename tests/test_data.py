"""Training data assembly: sources per head, splits, unique ids, reviewed letters replace originals."""

from __future__ import annotations

import json

from xinfang.config import Settings
from xinfang.schema import load_schema
from xinfang.sources import load_cold
from xinfang.text import LetterTokenizer
from xinfang.training.data import build_corpus, letters_to_dataset, to_windows
from xinfang.training.profiles import get_profile


def _settings(tmp_path, data_dir):
    return Settings(models_dir=tmp_path / "m", cache_dir=tmp_path / "c", data_dir=data_dir,
                    shared_data_dir=tmp_path / "none")


def _data(tmp_path):
    data = tmp_path / "data"
    (data / "cold").mkdir(parents=True)
    rows = ["Unnamed: 0,split,topic,label,TEXT"] + [f"{i % 3},train,race,{i % 2},文本{i}" for i in range(40)]
    (data / "cold" / "train.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return data


def test_cold_ids_unique_even_when_index_column_repeats(tmp_path):
    letters = load_cold(_data(tmp_path) / "cold" / "train.csv")
    assert len({x.id for x in letters}) == len(letters) == 40


def test_corpus_splits_and_review_replacement(tmp_path):
    data = _data(tmp_path)
    schema = load_schema()
    prof = get_profile("tiny")
    corpus = build_corpus(prof, schema, _settings(tmp_path, data))
    assert {x.source for x in corpus.train} == {"generated", "cold"}
    assert not {x.id for x in corpus.train} & {x.id for x in corpus.dev}
    assert set(corpus.tests) == {"generated"}  # no cold/dev.csv here
    victim = next(x for x in corpus.train if x.source == "generated")
    review = tmp_path / "review.jsonl"
    review.write_text(json.dumps({"id": victim.id, "text": victim.text, "topic": ["life"], "malicious": 1}) + "\n",
                      encoding="utf-8")
    corpus2 = build_corpus(prof, schema, _settings(tmp_path, data), [review])
    same = [x for x in corpus2.train + corpus2.dev if x.id == victim.id]
    assert len(same) == 1 and same[0].labels == {"topic": ["life"], "malicious": True}


def test_windows_carry_labels_and_lengths(tmp_path, tiny_base):
    schema = load_schema()
    corpus = build_corpus(get_profile("tiny"), schema, _settings(tmp_path, _data(tmp_path)))
    tok = LetterTokenizer.from_file(tiny_base / "tokenizer.json", max_length=32, overlap=8)
    ds = letters_to_dataset(corpus.train, schema)
    win = to_windows(ds, tok, max_windows=2, seed=1)
    assert len(win) >= len(ds)
    assert all(n == len(ids) <= 32 for n, ids in zip(win["length"], win["input_ids"], strict=True))
    assert max(win["letter_row"]) == len(ds) - 1
    rows = win["letter_row"]
    assert max(rows.count(r) for r in set(rows)) <= 2
    cold = [i for i, s in enumerate(ds["source"]) if s == "cold"]
    assert all(win["mask_topic"][rows.index(r)] == 0 and win["mask_abusive"][rows.index(r)] == 1 for r in cold)
