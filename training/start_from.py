"""Where a run's weights start: the base encoder (the default) or an earlier model's torch weights."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xinfang.errors import XinfangError
from xinfang.labels import LabelledLetter
from xinfang.model_folder import ENCODER_WEIGHTS, HEADS_CONFIG, HEADS_WEIGHTS, ModelFolder
from xinfang.schema import Schema
from xinfang.training.bases.wheels import sha256_file
from xinfang.training.model import MultiHeadModel, load_encoder
from xinfang.training.profiles import Profile


class StartModelError(XinfangError):
    """The earlier model a run should continue from cannot be used."""


def schema_difference(model: Schema, run: Schema) -> list[str]:
    """What makes weights trained for `model` unusable for `run` (heads, kinds, class ids and their order)."""
    diffs = []
    if model.head_names != run.head_names:
        diffs.append(f"heads {model.head_names} in the model, {run.head_names} in this run")
    for head in run.heads:
        if head.name not in model.by_name:
            continue
        old = model.head(head.name)
        if old.kind is not head.kind:
            diffs.append(f"head '{head.name}' is {old.kind.value} in the model, {head.kind.value} in this run")
        elif old.class_ids != head.class_ids:
            only_model = [c for c in old.class_ids if c not in head.class_ids]
            only_run = [c for c in head.class_ids if c not in old.class_ids]
            what = (f"only in the model {only_model}, only in this run {only_run}" if only_model or only_run
                    else f"same classes in another order: {old.class_ids} vs {head.class_ids}")
            diffs.append(f"head '{head.name}' classes differ ({what})")
    return diffs


@dataclass(frozen=True)
class StartModel:
    """An earlier model folder checked against this run: same schema, tokenizer and encoder depth."""

    folder: ModelFolder

    @classmethod
    def resolve(cls, ref: str, models_dir: Path, schema: Schema, profile: Profile, base_dir: Path) -> StartModel:
        folder = ModelFolder.resolve(models_dir, ref)
        where = f"model '{folder.name}/{folder.version}' ({folder.path})"
        if missing := folder.missing_torch_files:
            raise StartModelError(
                f"{where} has no torch weights (lacks {missing}): it was trained before model folders kept them, "
                "so training cannot continue from it; train from the base (omit --from-model) or pick a newer model")
        if diffs := schema_difference(folder.schema, schema):
            raise StartModelError(f"{where} was trained with schema '{folder.schema.name}' "
                                  f"v{folder.schema.version}, this run uses '{schema.name}' v{schema.version}: "
                                  + "; ".join(diffs))
        if sha256_file(folder.path / "tokenizer.json") != sha256_file(base_dir / "tokenizer.json"):
            raise StartModelError(f"{where} uses another tokenizer than the base of this run "
                                  f"({base_dir.name}); its base was '{folder.card.get('base', {}).get('name')}': "
                                  "pass that one with --base")
        encoder = json.loads((folder.path / HEADS_CONFIG).read_text(encoding="utf-8"))["encoder"]
        wanted = profile.encoder_layers or encoder["base_num_hidden_layers"]
        if encoder["num_hidden_layers"] != wanted:
            raise StartModelError(f"{where} has an encoder of {encoder['num_hidden_layers']} layers (of the base's "
                                  f"{encoder['base_num_hidden_layers']}); profile '{profile.name}' asks for {wanted}")
        return cls(folder)

    def load(self, class_weights: dict[str, list[float]]) -> MultiHeadModel:
        return MultiHeadModel.load(self.folder.path, class_weights=class_weights)

    def record(self, corpus_dev: list[LabelledLetter]) -> dict[str, Any]:
        """For the card: which model, its weights' sha256, and how many dev letters it was trained on."""
        splits_path = self.folder.path / "splits.json"
        splits = json.loads(splits_path.read_text(encoding="utf-8")) if splits_path.is_file() else {}
        seen = {(src, i) for src, parts in splits.items() for i in parts.get("train", [])}
        return {"from": "model", "model": f"{self.folder.name}/{self.folder.version}",
                "weights_sha256": {f: sha256_file(self.folder.path / f) for f in (ENCODER_WEIGHTS, HEADS_WEIGHTS)},
                "dev_letters_it_trained_on": sum((x.source, x.id) in seen for x in corpus_dev)}


def start_weights(start: StartModel | None, base_dir: Path, base_card: dict[str, Any], schema: Schema,
                  profile: Profile, class_weights: dict[str, list[float]], corpus_dev: list[LabelledLetter]
                  ) -> tuple[MultiHeadModel, dict[str, Any]]:
    """The model a run trains and the card's record of where its weights started."""
    if start is not None:
        return start.load(class_weights), start.record(corpus_dev)
    model = MultiHeadModel(load_encoder(base_dir, profile.encoder_layers), schema,
                           pooling=base_card.get("pooling", "mean"), class_weights=class_weights)
    return model, {"from": "base", "base": base_card.get("name"), "weights_sha256": base_card.get("weights_sha256")}
