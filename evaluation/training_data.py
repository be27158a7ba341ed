"""The model's training letters rebuilt from its card (profile, sources) and splits.json, for baselines."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from xinfang.config import Settings
from xinfang.labels import LabelledLetter
from xinfang.model_folder import ModelFolder
from xinfang.sources import COLD_TRAIN, TIPDM_LABELLED, find_data_file, load_cold, load_tipdm


@dataclass
class TrainingData:
    """Train and dev letters as the model had them, with the sources used and notes on any difference."""

    train: list[LabelledLetter]
    dev: list[LabelledLetter]
    sources: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _apply_splits(
    train: list[LabelledLetter],
    dev: list[LabelledLetter],
    source: str,
    pool: list[LabelledLetter],
    split: dict,
    dev_key: str,
    notes: list[str],
) -> tuple[list, list]:
    """Make a real source's letters in train/dev those the training run recorded in splits.json.
    When the recomputed split has exactly the recorded ids it is kept as is (ids may repeat in a
    source, e.g. COLD: then only the recomputation knows which rows were meant)."""
    ids_train = set(map(str, split.get("train", [])))
    ids_dev = set(map(str, split.get(dev_key) or split.get("dev") or []))
    now_train = {x.id for x in train if x.source == source}
    now_dev = {x.id for x in dev if x.source == source}
    if now_train == ids_train and now_dev == ids_dev:
        return train, dev
    counts: dict[str, int] = {}
    for x in pool:
        counts[x.id] = counts.get(x.id, 0) + 1
    if any(v > 1 for v in counts.values()):
        notes.append(
            f"{source}: ids repeat in the source file, so its splits.json ids are ambiguous; "
            "the first row of each id is used"
        )
    first: dict[str, LabelledLetter] = {}
    for x in pool:
        first.setdefault(x.id, x)
    train = [x for x in train if x.source != source] + [first[i] for i in sorted(ids_train) if i in first]
    dev = [x for x in dev if x.source != source] + [first[i] for i in sorted(ids_dev) if i in first]
    notes.append(f"{source}: the recomputed split differs from splits.json; the recorded ids are used")
    return train, dev


def model_training_data(folder: ModelFolder, settings: Settings) -> TrainingData:
    """Rebuild the corpus with xinfang.training.data.build_corpus and the card's profile; keep only the sources
    the card lists; use splits.json for the real splits when present. Raises ImportError without
    the training extras."""
    from xinfang.evaluation.sets import model_profile, read_splits
    from xinfang.training.data import build_corpus

    profile, notes = model_profile(folder)
    card_sources: dict = folder.card.get("data", {}).get("sources", {}) or {}
    extra: list[Path] = []
    for name, src in card_sources.items():
        if src.get("kind") == "user":
            p = Path(src.get("path", ""))
            if p.is_file():
                extra.append(p)
            else:
                notes.append(
                    f"training source {name} is no longer at {p}: the baseline is trained without it"
                )
    corpus = build_corpus(profile, folder.schema, settings, extra_data=extra)
    train, dev = corpus.train, corpus.dev
    if card_sources:
        allowed = set(card_sources)
        dropped = sorted({x.source for x in train} - allowed)
        train = [x for x in train if x.source in allowed]
        dev = [x for x in dev if x.source in allowed]
        if dropped:
            notes.append(f"sources not in the model card left out: {', '.join(dropped)}")
        missing = sorted(allowed - {x.source for x in train})
        if missing:
            notes.append(f"sources in the model card but not found now: {', '.join(missing)}")
    else:
        notes.append("the model card lists no data sources: every source found now is used")
    splits = read_splits(folder)
    if splits:
        tipdm = find_data_file(settings, TIPDM_LABELLED)
        if "tipdm2020" in splits and tipdm and any(x.source == "tipdm2020" for x in train):
            train, dev = _apply_splits(
                train, dev, "tipdm2020", load_tipdm(tipdm, folder.schema), splits["tipdm2020"], "dev", notes
            )
        cold = find_data_file(settings, COLD_TRAIN)
        if "cold" in splits and cold and any(x.source == "cold" for x in train):
            train, dev = _apply_splits(
                train, dev, "cold", load_cold(cold), splits["cold"], "dev_internal", notes
            )
        notes.append("real train/dev letters taken from the model's splits.json")
    else:
        notes.append(
            "no splits.json: real splits recomputed with build_corpus and the card's profile and seed"
        )
    counts: dict[str, int] = {}
    for x in train:
        counts[x.source] = counts.get(x.source, 0) + 1
    return TrainingData(train=train, dev=dev, sources=counts, notes=notes)
