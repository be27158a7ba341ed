"""Evaluation sets for a model: real held-out letters first (jijian, tipdm2020, COLD dev), then the generated test."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from xinfang.config import Settings
from xinfang.labels import LabelledLetter
from xinfang.model_folder import ModelFolder
from xinfang.sources import (
    COLD_DEV,
    JIJIAN_LETTERS,
    TIPDM_LABELLED,
    find_data_file,
    load_cold,
    load_jijian,
    load_tipdm,
)

KIND_ORDER = {"real": 0, "user": 1, "generated": 2}


@dataclass
class EvalSet:
    """Letters to measure on, with what kind of data they are and whether the model may have seen them."""

    name: str
    title: str
    kind: str  # real | user | generated
    letters: list[LabelledLetter]
    held_out: bool = True
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.letters, repeated = unique_ids(self.letters)
        if repeated:
            self.notes.append(
                f"{repeated} letters share an id with an earlier one in the file: "
                "'#2', '#3'… were appended to tell them apart"
            )

    def summary(self) -> dict[str, Any]:
        heads = sorted({h for x in self.letters for h in x.labels})
        return {
            "name": self.name,
            "title": self.title,
            "kind": self.kind,
            "n": len(self.letters),
            "held_out": self.held_out,
            "notes": self.notes,
            "heads": heads,
        }


def unique_ids(letters: list[LabelledLetter]) -> tuple[list[LabelledLetter], int]:
    """Letters with ids unique within the list (later repeats get '#2', '#3'…), and how many were renamed."""
    seen: dict[str, int] = {}
    out = []
    renamed = 0
    for x in letters:
        n = seen.get(x.id, 0) + 1
        seen[x.id] = n
        if n > 1:
            x = replace(x, id=f"{x.id}#{n}")
            renamed += 1
        out.append(x)
    return out, renamed


def ordered(sets: list[EvalSet]) -> list[EvalSet]:
    """Real data first, then user files, then generated; held-out before possibly-seen."""
    return sorted(sets, key=lambda s: (KIND_ORDER.get(s.kind, 3), not s.held_out))


def read_splits(folder: ModelFolder) -> dict | None:
    """splits.json of a model folder: letter ids of each real split, or None when absent."""
    p = folder.path / "splits.json"
    if not p.is_file():
        return None
    data = json.loads(p.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None


def model_profile(folder: ModelFolder) -> tuple[Any, list[str]]:
    """The training profile recorded in the model card (else the 'quick' profile, with a note)."""
    from xinfang.training.profiles import Profile, get_profile

    raw = folder.card.get("profile")
    if isinstance(raw, dict):
        return Profile(**raw), []
    return get_profile("quick"), [
        "the model card records no training profile: the 'quick' profile is assumed"
    ]


def sample(letters: list[LabelledLetter], limit: int | None, seed: int) -> list[LabelledLetter]:
    """A seeded random sample of at most `limit` letters, kept in file order."""
    if not limit or len(letters) <= limit:
        return letters
    keep = sorted(random.Random(seed).sample(range(len(letters)), limit))
    return [letters[i] for i in keep]


def tipdm_set(folder: ModelFolder, settings: Settings) -> EvalSet | None:
    """tipdm2020 letters the model was not trained on (splits.json), or all of them marked possibly seen."""
    path = find_data_file(settings, TIPDM_LABELLED)
    if path is None or "sector" not in folder.schema.by_name:
        return None
    letters = load_tipdm(path, folder.schema)
    splits = (read_splits(folder) or {}).get("tipdm2020")
    if splits and "train" in splits:
        train = set(map(str, splits["train"]))
        dev = set(map(str, splits.get("dev", [])))
        unseen = [x for x in letters if x.id not in train]
        n_dev = sum(x.id in dev for x in unseen)
        return EvalSet(
            "tipdm2020_unseen",
            "tipdm2020 市民留言（模型未训练过的）",
            "real",
            unseen,
            True,
            [
                f"{len(unseen)} of {len(letters)} labelled letters were not used for training (splits.json); "
                f"{n_dev} of them were the dev split, used for early stopping and calibration"
            ],
        )
    return EvalSet(
        "tipdm2020_all",
        "tipdm2020 市民留言（全部，可能见过）",
        "real",
        letters,
        False,
        [
            "the model folder has no splits.json: every tipdm2020 letter may have been seen in training, "
            "so these figures are optimistic; the cross-validated figure in the baseline section is the "
            "honest one"
        ],
    )


def jijian_set(folder: ModelFolder, settings: Settings) -> EvalSet | None:
    """Hand-labelled real letters (jijian) the model was not trained on (splits.json); None without splits."""
    path = find_data_file(settings, JIJIAN_LETTERS)
    splits = (read_splits(folder) or {}).get("jijian")
    if path is None or not splits or "train" not in splits:
        return None
    train = set(map(str, splits["train"]))
    letters = load_jijian(path, folder.schema)
    unseen = [x for x in letters if x.id not in train]
    return EvalSet(
        "jijian_unseen", "jijian 人工标注真实来信（模型未训练过的）", "real", unseen, True,
        [f"{len(unseen)} of {len(letters)} hand-labelled real letters were not used for training (splits.json); "
         "they are the dev split, used for the blend weights, calibration and route thresholds, so these figures "
         "are slightly optimistic: the grouped cross-validation (benchmarks/cv_jijian.py) is the honest one"],
    )


def cold_set(folder: ModelFolder, settings: Settings, limit: int | None, seed: int) -> EvalSet | None:
    """COLD dev (held out from training) for the abusive head, optionally a seeded sample."""
    path = find_data_file(settings, COLD_DEV)
    if path is None or "abusive" not in folder.schema.by_name:
        return None
    rows = load_cold(path)
    chosen = sample(rows, limit, seed)
    notes = ["COLD dev (Deng et al., EMNLP 2022, Apache-2.0): held out from training"]
    if len(chosen) < len(rows):
        notes.append(f"a seeded random sample of {len(chosen)} of {len(rows)} comments (seed {seed})")
    return EvalSet("cold_dev", "COLD 冒犯性语言 dev（未参与训练）", "real", chosen, True, notes)


def generated_set(folder: ModelFolder, profile: Any) -> EvalSet | None:
    """The generator's test split (held-out templates) with the profile's count and seed + 2."""
    from xinfang.training.data import generated_letters

    if not {"topic", "credibility", "malicious"} & set(folder.schema.head_names):
        return None
    letters = generated_letters(profile.generated_test, profile.seed + 2, "test", profile.malicious_rate)
    return EvalSet(
        "generated_test",
        "生成信件 test（模板留出；生成数据）",
        "generated",
        letters,
        True,
        [
            "GENERATED letters from held-out templates: they measure the generator's test templates, "
            "not real intake",
            f"generate_letters(n={profile.generated_test}, seed={profile.seed + 2}, split='test')",
        ],
    )


def default_sets(
    folder: ModelFolder, settings: Settings, max_per_set: int | None = None
) -> tuple[list[EvalSet], list[str]]:
    """The standard sets for a model (real first) and notes on what could not be built."""
    notes: list[str] = []
    try:
        profile, more = model_profile(folder)
    except ImportError as exc:
        return [], [f"training extras missing ({exc.name}): the default evaluation sets cannot be built"]
    notes += more
    sets = [
        jijian_set(folder, settings),
        tipdm_set(folder, settings),
        cold_set(folder, settings, max_per_set, profile.seed),
        generated_set(folder, profile),
    ]
    found = [s for s in sets if s is not None]
    if not any(s.kind == "real" for s in found):
        notes.append("no real labelled data found (shared/data/tipdm2020, data/cold): only generated figures")
    return ordered(found), notes


def file_set(path: Path, folder: ModelFolder, encoding: str | None = None) -> EvalSet:
    """A user's labelled-letters file (JSONL, CSV, TSV or xlsx, any subset of heads); InputFileError on bad rows."""
    from xinfang.labels import read_labelled

    letters = read_labelled(path, folder.schema, encoding=encoding)
    return EvalSet(
        "data",
        f"{Path(path).name}（用户提供的标注信件）",
        "user",
        letters,
        True,
        [f"labelled letters from {Path(path).name}; the model may or may not have seen them"],
    )
