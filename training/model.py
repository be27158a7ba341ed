"""The multi-head model: one shared encoder, one linear head per schema head, loss masked per example."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.utils import logging as hf_logging

from xinfang.model_folder import ENCODER_CONFIG, ENCODER_WEIGHTS, HEADS_CONFIG, HEADS_WEIGHTS
from xinfang.schema import HeadKind, Schema, parse_schema
from xinfang.span_decoding import span_output


def label_key(head: str) -> str:
    return f"labels_{head}"


def mask_key(head: str) -> str:
    return f"mask_{head}"


def span_keys(head: str) -> tuple[str, str, str]:
    """Batch keys of a span head's targets: start token, end token (per class) and per-class 0/1 mask."""
    return f"span_start_{head}", f"span_end_{head}", f"span_mask_{head}"


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
        # span heads: per token a start and an end logit for each class (interleaved), read off the token states
        self.span_heads = nn.ModuleDict({h.name: nn.Linear(hidden, 2 * h.n_outputs) for h in schema.heads
                                         if h.spans})
        self.span_loss_weight = 1.0
        for h in schema.heads:
            w = (class_weights or {}).get(h.name) or [1.0] * h.n_outputs
            self.register_buffer(f"class_weight_{h.name}", torch.tensor(w, dtype=torch.float32), persistent=True)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            return hidden[:, 0]
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Window logits per head."""
        return self.all_logits(input_ids, attention_mask)[0]

    def all_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor
                   ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Window logits per head, and per span head its (batch, tokens, 2 x classes) start/end logits."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = self.dropout(self.pool(hidden, attention_mask))
        spans = {name: head(self.dropout(hidden)) for name, head in self.span_heads.items()}
        return {name: head(pooled) for name, head in self.heads.items()}, spans

    @staticmethod
    def span_loss(logits: torch.Tensor, start: torch.Tensor, end: torch.Tensor, mask: torch.Tensor,
                  attention_mask: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over token positions for each class's start and end, averaged over the (window, class)
        pairs the mask allows (those with an annotated span inside the window)."""
        b, t, two_n = logits.shape
        n = two_n // 2
        lg = logits.view(b, t, n, 2).permute(0, 2, 3, 1)  # batch, class, start/end, token
        lg = lg.masked_fill(attention_mask[:, None, None, :] == 0, -1e4)
        ce = nn.functional.cross_entropy
        per = (ce(lg[:, :, 0].reshape(b * n, t), start.reshape(-1).long(), reduction="none")
               + ce(lg[:, :, 1].reshape(b * n, t), end.reshape(-1).long(), reduction="none")).view(b, n) / 2
        m = mask.to(per.dtype)
        return (per * m).sum() / m.sum().clamp(min=1.0)

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
        out, spans = self.all_logits(input_ids, attention_mask)
        if labels:
            total = input_ids.new_zeros((), dtype=torch.float32)
            for name in self.heads:
                if label_key(name) in labels:
                    total = total + self.head_loss(name, out[name], labels[label_key(name)],
                                                   labels[mask_key(name)])
            for name, logits in spans.items():
                start, end, mask = span_keys(name)
                if start in labels:
                    total = total + self.span_loss_weight * self.span_loss(
                        logits, labels[start], labels[end], labels[mask], attention_mask)
            return {"loss": total, **out}
        return out

    # -- persistence: a transformers folder (config.json + model.safetensors) with the heads beside it --
    def heads_config(self) -> dict[str, Any]:
        """Per head its kind and labels (transformers' id2label/label2id), with pooling and encoder depth."""
        cfg = self.encoder.config
        heads = {}
        for h in self.schema.heads:
            heads[h.name] = {
                "kind": h.kind.value, "num_labels": h.n_outputs,
                "problem_type": "single_label_classification" if h.kind is HeadKind.single_label
                else "multi_label_classification",
                "id2label": {str(i): c for i, c in enumerate(h.class_ids)},
                "label2id": {c: i for i, c in enumerate(h.class_ids)}}
        return {
            "architecture": "xinfang.MultiHeadModel", "format_version": 1, "pooling": self.pooling,
            "dropout": self.dropout.p,
            "encoder": {"config": ENCODER_CONFIG, "weights": ENCODER_WEIGHTS, "model_type": cfg.model_type,
                        "num_hidden_layers": cfg.num_hidden_layers,
                        "base_num_hidden_layers": getattr(cfg, "base_num_hidden_layers", cfg.num_hidden_layers)},
            "schema": {"name": self.schema.name, "version": self.schema.version, "file": "schema.yaml"},
            "heads": heads,
            "span_heads": {name: {"output": span_output(name), "layout": "tokens x (start, end) per class"}
                           for name in self.span_heads}}

    def save(self, folder: str | Path) -> None:
        """Encoder via save_pretrained, heads as safetensors, heads_config.json and schema.yaml beside them."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with _quiet_transformers():
            self.encoder.save_pretrained(folder)
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()
                   if not k.startswith("encoder.")}, folder / HEADS_WEIGHTS, metadata={"format": "pt"})
        (folder / "schema.yaml").write_text(self.schema.to_yaml(), encoding="utf-8")
        (folder / HEADS_CONFIG).write_text(json.dumps(self.heads_config(), indent=2, ensure_ascii=False),
                                           encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path, class_weights: dict[str, list[float]] | None = None) -> MultiHeadModel:
        """The model `save` wrote, exactly; `class_weights` replace the stored ones (a new training run)."""
        folder = Path(folder)
        schema = parse_schema((folder / "schema.yaml").read_text(encoding="utf-8"), folder / "schema.yaml")
        cfg = json.loads((folder / HEADS_CONFIG).read_text(encoding="utf-8"))
        stored = {name: (h["kind"], h["num_labels"]) for name, h in cfg["heads"].items()}
        if stored != {h.name: (h.kind.value, h.n_outputs) for h in schema.heads}:
            raise ValueError(f"{folder / HEADS_CONFIG} does not match {folder / 'schema.yaml'}")
        encoder = _from_pretrained(folder, AutoConfig.from_pretrained(folder))
        model = cls(encoder, schema, pooling=cfg["pooling"], dropout=cfg.get("dropout", 0.1),
                    class_weights=class_weights)
        state = load_file(folder / HEADS_WEIGHTS)
        if class_weights is not None:
            state = {k: v for k, v in state.items() if not k.startswith("class_weight_")}
        result = model.load_state_dict(state, strict=False)
        missing = [k for k in result.missing_keys if not k.startswith("encoder.")
                   and not (class_weights is not None and k.startswith("class_weight_"))]
        if missing or result.unexpected_keys:
            raise ValueError(f"{folder / HEADS_WEIGHTS}: missing {missing}, unexpected {result.unexpected_keys}")
        return model


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No load reports (they list the unused pooler and layers: expected, not news) and no progress bars."""
    previous, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()


def _from_pretrained(path: str | Path, config: PretrainedConfig) -> PreTrainedModel:
    """AutoModel without a pooler (we pool ourselves)."""
    with _quiet_transformers():
        try:
            return AutoModel.from_pretrained(path, config=config, add_pooling_layer=False)
        except TypeError:
            return AutoModel.from_pretrained(path, config=config)


def load_encoder(base_path: str | Path, layers: int | None = None) -> PreTrainedModel:
    """The base encoder without any pretrained pooler (we pool ourselves); with `layers`, only its lower
    `layers` transformer layers (a shallower encoder costs proportionally less per token). Its config keeps
    `base_num_hidden_layers`, so a saved encoder says it was cut and reloads with exactly its layers."""
    config = AutoConfig.from_pretrained(base_path)
    config.base_num_hidden_layers = getattr(config, "base_num_hidden_layers", config.num_hidden_layers)
    if layers is not None:
        if not 1 <= layers <= config.num_hidden_layers:
            raise ValueError(f"encoder_layers must be 1..{config.num_hidden_layers}, got {layers}")
        config.num_hidden_layers = layers  # weights of the upper layers are simply not loaded
    return _from_pretrained(base_path, config)


class OnnxWrapper(nn.Module):
    """Export view: (input_ids, attention_mask) -> one logits tensor per head in schema order, then each span
    head's token logits (`output_names` gives the names)."""

    def __init__(self, model: MultiHeadModel):
        super().__init__()
        self.model = model

    @property
    def output_names(self) -> list[str]:
        return self.model.schema.head_names + [span_output(h) for h in self.model.span_heads]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, spans = self.model.all_logits(input_ids, attention_mask)
        return tuple(out[h] for h in self.model.schema.head_names) + tuple(spans[h] for h in self.model.span_heads)
