"""A trained model folder (models/<name>/<version>): its files, schema, calibration and card."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from xinfang.errors import XinfangError
from xinfang.precision import Precision, parse_precision
from xinfang.schema import Schema, load_schema

REQUIRED = ("model.onnx", "tokenizer.json", "schema.yaml", "calibration.json", "inference.json")
MIN_INT8_AGREEMENT = 0.98  # int8 label agreement with fp32 (every head, dev letters) needed to serve int8
# the torch weights kept beside the ONNX graphs (transformers layout; training reads them, serving never does)
ENCODER_CONFIG = "config.json"  # the encoder's transformers config (save_pretrained)
ENCODER_WEIGHTS = "model.safetensors"  # the encoder's weights
HEADS_CONFIG = "heads_config.json"  # per head: kind, id2label, label2id; pooling; encoder depth
HEADS_WEIGHTS = "heads.safetensors"  # the heads' weights (and training class weights)
TORCH_FILES = (ENCODER_CONFIG, ENCODER_WEIGHTS, HEADS_CONFIG, HEADS_WEIGHTS)


class ModelNotFound(XinfangError):
    """No usable model folder where one was asked for."""


@dataclass(frozen=True)
class ModelFolder:
    path: Path

    @classmethod
    def resolve(cls, models_dir: Path, ref: str | None = None) -> ModelFolder:
        """'current' (default), 'name/version', a version under any name, or a folder path."""
        ref = ref or "current"
        candidates = [Path(ref), models_dir / ref]
        candidates += sorted(models_dir.glob(f"*/{ref}")) if "/" not in ref else []
        for c in candidates:
            if (c / "model.onnx").is_file():
                folder = cls(c.resolve())
                folder.check()
                return folder
        raise ModelNotFound(f"no model '{ref}' under {models_dir} (train one with `xinfang train`)")

    def check(self) -> None:
        missing = [f for f in REQUIRED if not (self.path / f).is_file()]
        if missing:
            raise ModelNotFound(f"model folder {self.path} lacks {missing}")

    @property
    def missing_torch_files(self) -> list[str]:
        """The torch files this folder lacks (all of them for models trained before they were kept)."""
        return [f for f in TORCH_FILES if not (self.path / f).is_file()]

    @cached_property
    def schema(self) -> Schema:
        return load_schema(self.path / "schema.yaml")

    @cached_property
    def calibration(self) -> dict:
        return json.loads((self.path / "calibration.json").read_text(encoding="utf-8"))

    @cached_property
    def inference(self) -> dict:
        return json.loads((self.path / "inference.json").read_text(encoding="utf-8"))

    @cached_property
    def card(self) -> dict:
        p = self.path / "model_card.json"
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}

    @property
    def name(self) -> str:
        return str(self.card.get("name") or self.path.parent.name)

    @property
    def version(self) -> str:
        return str(self.card.get("version") or self.path.name)

    def resolve_precision(self, requested: str | Precision = Precision.auto) -> str:
        """'auto' is int8 when the int8 graph passed its parity check at export (label agreement with fp32
        of at least MIN_INT8_AGREEMENT on every head), else fp32; 'int8' and 'fp32' are taken as asked."""
        if (precision := parse_precision(requested)) is not Precision.auto:
            return precision.value
        agreement = self.card.get("export", {}).get("int8_min_agreement")
        ok = (self.path / "model.int8.onnx").is_file() and (agreement is None or agreement >= MIN_INT8_AGREEMENT)
        return (Precision.int8 if ok else Precision.fp32).value

    def onnx_path(self, precision: str | Precision = Precision.int8) -> Path:
        graph = parse_precision(precision, graphs_only=True)
        p = self.path / ("model.int8.onnx" if graph is Precision.int8 else "model.onnx")
        if not p.is_file():
            raise ModelNotFound(f"{p} not found")
        return p
