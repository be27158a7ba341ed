"""The multi-head model: one shared encoder, one linear head per schema head, loss masked per example."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers.utils import logging as hf_logging

from xinfang.schema import HeadKind, Schema, parse_schema


def label_key(head: str) -> str:
    return f"labels_{head}"


def mask_key(head: str) -> str:
    return f"mask_{head}"


class MultiHeadModel(nn.Module):
    """Shared encoder + pooled representation + one head per schema head."""

    def __init__(self, encoder: PreTrainedModel, schema: Schema, pooling: str = "mean", dropout: float = 0.1,
                 class_weights: dict[str, list[float]] | None = None):
        super().__init__()
        if pooling not in {"mean", "cls"}:
            raise ValueError("pooling is 'mean' or 'cls'")
        self.encoder = encoder
        self.schema = schema
        self.pooling = pooling
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({h.name: nn.Linear(hidden, h.n_outputs) for h in schema.heads})
        for h in schema.heads:
            w = (class_weights or {}).get(h.name) or [1.0] * h.n_outputs
            self.register_buffer(f"class_weight_{h.name}", torch.tensor(w, dtype=torch.float32), persistent=True)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            return hidden[:, 0]
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = self.dropout(self.pool(hidden, attention_mask))
        return {name: head(pooled) for name, head in self.heads.items()}

    def head_loss(self, name: str, logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean loss over the examples labelled for this head (0 when none in the batch)."""
        kind = self.schema.head(name).kind
        weight = getattr(self, f"class_weight_{name}")
        if kind is HeadKind.single_label:
            per = nn.functional.cross_entropy(logits, target.argmax(dim=1), weight=weight, reduction="none")
        else:
            per = nn.functional.binary_cross_entropy_with_logits(
                logits, target.to(logits.dtype), pos_weight=weight, reduction="none").mean(dim=1)
        m = mask.to(per.dtype)
        return (per * m).sum() / m.sum().clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **labels: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        out = self.logits(input_ids, attention_mask)
        if labels:
            total = input_ids.new_zeros((), dtype=torch.float32)
            for name in self.heads:
                if label_key(name) in labels:
                    total = total + self.head_loss(name, out[name], labels[label_key(name)],
                                                   labels[mask_key(name)])
            return {"loss": total, **out}
        return out

    # -- persistence: the encoder as a transformers folder, heads and schema beside it --
    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(folder / "encoder")
        torch.save({k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")},
                   folder / "heads.pt")
        (folder / "schema.yaml").write_text(self.schema.to_yaml(), encoding="utf-8")
        (folder / "head_config.json").write_text(json.dumps({"pooling": self.pooling}), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> MultiHeadModel:
        folder = Path(folder)
        schema = parse_schema((folder / "schema.yaml").read_text(encoding="utf-8"), folder / "schema.yaml")
        cfg = json.loads((folder / "head_config.json").read_text(encoding="utf-8"))
        encoder = AutoModel.from_pretrained(folder / "encoder", add_pooling_layer=False)
        model = cls(encoder, schema, pooling=cfg["pooling"])
        model.load_state_dict(torch.load(folder / "heads.pt", weights_only=True), strict=False)
        return model


def load_encoder(base_path: str | Path, layers: int | None = None) -> PreTrainedModel:
    """The base encoder without any pretrained pooler (we pool ourselves); with `layers`, only its lower
    `layers` transformer layers (a shallower encoder costs proportionally less per token)."""
    config = AutoConfig.from_pretrained(base_path)
    if layers is not None:
        if not 1 <= layers <= config.num_hidden_layers:
            raise ValueError(f"encoder_layers must be 1..{config.num_hidden_layers}, got {layers}")
        config.num_hidden_layers = layers  # weights of the upper layers are simply not loaded
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report lists the unused pooler and layers: expected, not news
    try:
        return AutoModel.from_pretrained(base_path, config=config, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_pretrained(base_path, config=config)
    finally:
        hf_logging.set_verbosity(previous)


class OnnxWrapper(nn.Module):
    """Export view: (input_ids, attention_mask) -> one logits tensor per head, in schema order."""

    def __init__(self, model: MultiHeadModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model.logits(input_ids, attention_mask)
        return tuple(out[h] for h in self.model.schema.head_names)
