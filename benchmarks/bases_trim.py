"""Trimmed vs full multilingual-e5-small on real letters: identical tokens?, unk rate, embedding cosine, size."""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from xinfang.config import get_settings
from xinfang.text import normalise
from xinfang.training.bases import fetch_base
from xinfang.training.bases.corpus import HOLDOUT_FILE, HOLDOUT_LINES, heldout_letters
from xinfang.training.bases.embed import embed_texts, load_encoder

PREFIX = "passage: "


def token_stats(full_tok, trim_tok, texts: list[str]) -> dict[str, float]:
    """Token sequences compared as piece strings (ids differ by construction), and unknown-piece rates."""
    fe = full_tok.encode_batch([PREFIX + t for t in texts])
    te = trim_tok.encode_batch([PREFIX + t for t in texts])
    f_unk, t_unk = full_tok.token_to_id("<unk>"), trim_tok.token_to_id("<unk>")
    same = [a.tokens == b.tokens for a, b in zip(fe, te, strict=True)]
    n_full = sum(len(e.ids) for e in fe)
    n_trim = sum(len(e.ids) for e in te)
    return {
        "letters": len(texts),
        "identical_token_sequences": sum(same) / len(texts),
        "differing_letters": len(texts) - sum(same),
        "tokens_full": n_full,
        "tokens_trimmed": n_trim,
        "unk_rate_full": sum(e.ids.count(f_unk) for e in fe) / n_full,
        "unk_rate_trimmed": sum(e.ids.count(t_unk) for e in te) / n_trim,
        "letters_with_unk_full": sum(f_unk in e.ids for e in fe),
        "letters_with_unk_trimmed": sum(t_unk in e.ids for e in te),
        "_differing": [i for i, s in enumerate(same) if not s],
    }


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=100, help="held-out letters to embed (differing ones first)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    shared = get_settings().shared_data_dir
    full_dir, trim_dir = fetch_base("multilingual-e5-small-full"), fetch_base("multilingual-e5-small")
    t0 = time.perf_counter()
    full_model, full_tok = load_encoder(full_dir)
    t1 = time.perf_counter()
    trim_model, trim_tok = load_encoder(trim_dir)
    t2 = time.perf_counter()

    held = heldout_letters(shared)
    if not held:
        raise SystemExit(f"no held-out letters: {shared / HOLDOUT_FILE} is missing")
    labeled = [normalise(json.loads(ln)["text"]) for ln in
               (shared / "tipdm2020" / "labeled.jsonl").read_text(encoding="utf-8").splitlines() if ln.strip()]
    held_stats = token_stats(full_tok, trim_tok, held)
    seen_stats = token_stats(full_tok, trim_tok, labeled)

    differing = held_stats.pop("_differing")
    seen_stats.pop("_differing")
    rest = [i for i in range(len(held)) if i not in set(differing)]
    random.Random(0).shuffle(rest)
    pick = (differing + rest)[: args.n]
    texts = [held[i] for i in pick]
    t3 = time.perf_counter()
    ef = embed_texts(full_model, full_tok, texts, PREFIX)
    et = embed_texts(trim_model, trim_tok, texts, PREFIX)
    cos = (ef * et).sum(1)
    n_diff = sum(1 for i in pick if i in set(differing))
    report = {
        "heldout": f"{HOLDOUT_FILE} last {HOLDOUT_LINES} lines (not in the trimming corpus)",
        "heldout_tokens": held_stats,
        "in_corpus_tokens (tipdm labeled)": seen_stats,
        "embedding_cosine": {
            "letters": len(texts), "of_which_differing_tokens": n_diff,
            "mean": float(cos.mean()), "min": float(cos.min()),
            "mean_identical_tokens": float(cos[n_diff:].mean()) if len(texts) > n_diff else None,
            "max_abs_diff_identical_tokens": float(np.abs(ef[n_diff:] - et[n_diff:]).max()) if len(texts) > n_diff else None,
            "seconds": round(time.perf_counter() - t3, 1),
        },
        "params": {"full": sum(p.numel() for p in full_model.parameters()),
                   "trimmed": sum(p.numel() for p in trim_model.parameters())},
        "vocab": {"full": full_tok.get_vocab_size(), "trimmed": trim_tok.get_vocab_size()},
        "disk_mb": {"full": round(folder_mb(full_dir), 1), "trimmed": round(folder_mb(trim_dir), 1)},
        "load_seconds": {"full": round(t1 - t0, 2), "trimmed": round(t2 - t1, 2)},
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
