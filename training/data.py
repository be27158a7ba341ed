"""Training data: real letters first (jijian every head, tipdm2020 sector, COLD abusive), a bounded
supplement of generated letters and user files, split into train/dev/test and cut into token windows as a `datasets.Dataset`."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xinfang.config import Settings
from xinfang.errors import InputFileError
from xinfang.heads import target_matrix
from xinfang.labels import LabelledLetter, read_labelled
from xinfang.letter_groups import grouped_split, letter_groups
from xinfang.schema import Schema
from xinfang.sources import (
    COLD_DEV,
    COLD_TRAIN,
    JIJIAN_HEADS,
    JIJIAN_LETTERS,
    TIPDM_LABELLED,
    find_data_file,
    load_cold,
    load_jijian,
    load_tipdm,
)
from xinfang.text import LetterTokenizer, normalise
from xinfang.training.profiles import Profile
from xinfang.training.span_targets import NO_SPAN, letter_span_chars, window_span_targets

if TYPE_CHECKING:  # datasets and torch load only where windows are built: reading letters needs neither
    from datasets import Dataset


SPAN_CHARS, SPAN_USABLE = "spanchars_", "spanusable_"  # letter-level span columns, turned into window targets


@dataclass
class Corpus:
    """Letters per split; `test` sets are never used for training, early stopping or calibration."""

    train: list[LabelledLetter] = field(default_factory=list)
    dev: list[LabelledLetter] = field(default_factory=list)
    tests: dict[str, list[LabelledLetter]] = field(default_factory=dict)
    sources: dict[str, dict] = field(default_factory=dict)

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {"train": dict(Counter(x.source for x in self.train)),
                                          "dev": dict(Counter(x.source for x in self.dev))}
        for name, letters in self.tests.items():
            out[f"test:{name}"] = {name: len(letters)}
        return out


def generated_letters(n: int, seed: int, split: str, malicious_rate: float) -> list[LabelledLetter]:
    """Synthetic letters for topic, credibility and malicious (labels from the generator)."""
    from xinfang.training.generator import generate_letters

    out = []
    for g in generate_letters(n, seed=seed, split=split, malicious_rate=malicious_rate):
        out.append(LabelledLetter(
            id=g.id, text=g.text, source="generated",
            labels={"topic": list(g.topic), "credibility": list(g.credibility), "malicious": bool(g.malicious)},
            extra={"topic_primary": g.topic_primary, "spans": [s.__dict__ for s in g.spans],
                   "template_ids": g.template_ids}))
    return out


def stratified_split(letters: list[LabelledLetter], key: str, fraction: float, seed: int
                      ) -> tuple[list[LabelledLetter], list[LabelledLetter]]:
    groups: dict[str, list[LabelledLetter]] = {}
    for x in letters:
        groups.setdefault(str(x.labels.get(key)), []).append(x)
    rng = random.Random(seed)
    train, dev = [], []
    for k in sorted(groups):
        g = groups[k][:]
        rng.shuffle(g)
        n_dev = max(1, round(len(g) * fraction)) if len(g) > 1 else 0
        dev += g[:n_dev]
        train += g[n_dev:]
    return train, dev


def stratum(letter: LabelledLetter) -> str:
    """What a split keeps balanced for a letter: its primary topic, else its sector, else its source."""
    extra = letter.extra or {}
    return str(extra.get("topic_primary") or letter.labels.get("sector") or letter.source)


def real_letters(profile: Profile, schema: Schema, settings: Settings, exclude: set[str] | None = None
                 ) -> tuple[list[LabelledLetter], dict[str, dict]]:
    """Hand-labelled real letters for the schema's heads: jijian (every head) and tipdm2020 (sector)."""
    heads = set(schema.head_names)
    letters: list[LabelledLetter] = []
    sources: dict[str, dict] = {}
    jijian = find_data_file(settings, JIJIAN_LETTERS)
    if jijian and heads & set(JIJIAN_HEADS):
        found = [x for x in load_jijian(jijian, schema) if x.id not in (exclude or set())]
        if profile.jijian_limit is not None:
            found = random.Random(profile.seed).sample(found, min(profile.jijian_limit, len(found)))
        letters += found
        sources["jijian"] = {"kind": "real", "path": str(jijian), "n": len(found),
                             "licence": "texts: tipdm2020 (none stated; evaluation/demo); labels: the project's own"}
    tipdm = find_data_file(settings, TIPDM_LABELLED)
    if "sector" in heads and tipdm:
        found = [x for x in load_tipdm(tipdm, schema) if x.id not in (exclude or set())]
        letters += found
        sources["tipdm2020"] = {"kind": "real", "path": str(tipdm), "licence": "none stated (evaluation/demo)",
                                "n": len(found)}
    return letters, sources


def split_real(letters: list[LabelledLetter], fraction: float, seed: int
               ) -> tuple[list[LabelledLetter], list[LabelledLetter]]:
    """(train, dev): one submitter's letters and near-duplicate texts (across sources) stay on one side."""
    if len(letters) < 2:
        return letters, []
    groups = letter_groups(letters)
    train, dev = grouped_split(groups, [stratum(x) for x in letters], fraction, seed)
    return [letters[i] for i in train], [letters[i] for i in dev]


def build_corpus(profile: Profile, schema: Schema, settings: Settings, extra_data: list[Path] | None = None,
                 exclude: set[str] | None = None) -> Corpus:
    """Assemble train/dev/test letters for the schema's heads: real letters first (jijian, tipdm2020, COLD),
    split by groups; generated letters only as a bounded supplement for what real letters rarely show."""
    corpus = Corpus()
    seed = profile.seed
    heads = set(schema.head_names)
    real, sources = real_letters(profile, schema, settings, exclude)
    corpus.sources.update(sources)
    train, dev = split_real(real, profile.real_dev_fraction, seed)
    corpus.train += train
    corpus.dev += dev
    if heads & {"topic", "credibility", "malicious"} and profile.generated_train:
        corpus.train += generated_letters(profile.generated_train, seed, "train", profile.malicious_rate)
        if profile.generated_dev:
            corpus.dev += generated_letters(profile.generated_dev, seed + 1, "dev", profile.malicious_rate)
        if profile.generated_test:
            corpus.tests["generated"] = generated_letters(profile.generated_test, seed + 2, "test",
                                                          profile.malicious_rate)
        corpus.sources["generated"] = {"kind": "generated", "licence": "project's own generator",
                                       "seed": seed, "n_train": profile.generated_train}
    cold_train = find_data_file(settings, COLD_TRAIN)
    if "abusive" in heads and cold_train:
        rows = load_cold(cold_train)
        random.Random(seed).shuffle(rows)
        corpus.train += rows[: profile.cold_train]
        corpus.dev += rows[profile.cold_train: profile.cold_train + profile.cold_dev_internal]
        corpus.sources["cold"] = {"kind": "real", "path": str(cold_train), "licence": "Apache-2.0",
                                  "n_train_pool": len(rows)}
        cold_dev = find_data_file(settings, COLD_DEV)
        if cold_dev:
            corpus.tests["cold_dev"] = load_cold(cold_dev)
    for path in extra_data or []:
        letters = read_labelled(path, schema, source=f"user:{Path(path).name}")
        # a corrected (reviewed) letter replaces the letter of the same id wherever it was
        replaced = {x.id for x in letters}
        corpus.train = [x for x in corpus.train if x.id not in replaced]
        corpus.dev = [x for x in corpus.dev if x.id not in replaced]
        rng = random.Random(seed)
        letters = letters[:]
        rng.shuffle(letters)
        n_dev = len(letters) // 10
        corpus.dev += letters[:n_dev]
        corpus.train += letters[n_dev:]
        corpus.sources[f"user:{Path(path).name}"] = {"kind": "user", "path": str(path), "n": len(letters)}
    if not corpus.train:
        raise InputFileError("<training data>", "no training data found for the schema's heads")
    return corpus


def letters_to_dataset(letters: list[LabelledLetter], schema: Schema) -> Dataset:
    """One row per letter: normalised text, and per head a target vector plus a 0/1 'is labelled' mask."""
    from datasets import Dataset

    from xinfang.training.model import label_key, mask_key

    cols: dict[str, list] = {"letter_id": [x.id for x in letters], "source": [x.source for x in letters],
                             "text": [normalise(x.text) for x in letters]}
    for head in schema.heads:
        if head.spans:
            found = [letter_span_chars(x, head) for x in letters]
            none = ([list(NO_SPAN)] * head.n_outputs, [0.0] * head.n_outputs)
            cols[SPAN_CHARS + head.name] = [[list(c) for c in (f or none)[0]] for f in found]
            cols[SPAN_USABLE + head.name] = [(f or none)[1] for f in found]
    for head in schema.heads:
        present = [head.name in x.labels for x in letters]
        filler = {"binary": False, "single_label": head.class_ids[0], "multi_label": []}[head.kind.value]
        y = target_matrix(head, [x.labels.get(head.name, filler) for x in letters]).astype(np.float32)
        cols[label_key(head.name)] = y.tolist()
        cols[mask_key(head.name)] = [int(p) for p in present]
    return Dataset.from_dict(cols)


def to_windows(ds: Dataset, tokenizer: LetterTokenizer, max_windows: int | None = None, seed: int = 0) -> Dataset:
    """Expand letters into token windows; each window carries its letter's labels and row index.
    With max_windows, keep at most that many windows per letter (a seeded random choice)."""
    from xinfang.training.model import span_keys

    label_cols = [c for c in ds.column_names if c.startswith(("labels_", "mask_"))]
    span_heads = [c.removeprefix(SPAN_CHARS) for c in ds.column_names if c.startswith(SPAN_CHARS)]
    span_cols = [k for h in span_heads for k in span_keys(h)]

    def expand(batch: dict, indices: list[int]) -> dict:
        out: dict[str, list] = {"input_ids": [], "length": [], "letter_row": [],
                                **{c: [] for c in label_cols + span_cols}}
        for j, row in enumerate(indices):
            wins = tokenizer.windows(batch["text"][j])
            if max_windows and len(wins) > max_windows:
                rng = random.Random(seed * 1_000_003 + row)
                wins = [wins[i] for i in sorted(rng.sample(range(len(wins)), max_windows))]
            for w in wins:
                out["input_ids"].append(w.ids)
                out["length"].append(len(w.ids))
                out["letter_row"].append(row)
                for c in label_cols:
                    out[c].append(batch[c][j])
                for h in span_heads:
                    start, end, use = span_keys(h)
                    s, e, inside = window_span_targets(w, batch[SPAN_CHARS + h][j])
                    out[start].append(s)
                    out[end].append(e)
                    out[use].append([u * m for u, m in zip(batch[SPAN_USABLE + h][j], inside, strict=True)])
        return out

    with progress_bars_off():
        return ds.map(expand, batched=True, with_indices=True, remove_columns=ds.column_names)


@contextmanager
def progress_bars_off() -> Iterator[None]:
    """datasets' tqdm bars off for a moment (the pipeline prints its own progress)."""
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_on = are_progress_bars_disabled() is False
    disable_progress_bars()
    try:
        yield
    finally:
        if was_on:
            enable_progress_bars()
