"""Sector macro-F1 by stratified k-fold cross-validation on the real tipdm2020 labelled letters.

For each fold the base encoder is fine-tuned on the other folds (sector head only, 15% of them as dev
for early stopping) and scored on the held-out fold; a TF-IDF + linear baseline runs on the same folds.

    .venv/bin/python benchmarks/cv_sector.py --base multilingual-e5-small --folds 5
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from xinfang.config import get_settings
from xinfang.evaluation.baseline import tfidf_baseline
from xinfang.schema import Schema, load_schema
from xinfang.sources import find_data_file, load_tipdm
from xinfang.text import LetterTokenizer
from xinfang.training.bases import fetch_base
from xinfang.training.data import letters_to_dataset, stratified_split, to_windows
from xinfang.training.model import MultiHeadModel, load_encoder
from xinfang.training.pipeline import read_base_card
from xinfang.training.profiles import get_profile
from xinfang.training.trainer import class_weights, fit, predict_letters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="multilingual-e5-small")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    console = Console(stderr=True)
    settings = get_settings()
    full = load_schema()
    schema = Schema(name="sector-only", heads=[full.head("sector")])
    path = find_data_file(settings, "tipdm2020/labeled.jsonl")
    if path is None:
        raise SystemExit("tipdm2020/labeled.jsonl not found (shared data folder)")
    letters = load_tipdm(path, full)
    y = np.array([schema.head("sector").class_ids.index(x.labels["sector"]) for x in letters])
    base_dir = Path(fetch_base(args.base, console=console))
    card = read_base_card(base_dir, args.base)
    prof = get_profile("quick").model_copy(update={
        "epochs": args.epochs, "max_length": args.max_length, "overlap": 64, "max_windows_per_letter": 3,
        "eval_times": 4, "early_stopping_patience": 2, "time_budget_s": 1800.0, "batch_size": 16})
    tok = LetterTokenizer.from_file(base_dir / "tokenizer.json", max_length=prof.max_length, overlap=prof.overlap)
    skf = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=prof.seed)
    preds = np.zeros(len(letters), dtype=int)
    base_preds = np.zeros(len(letters), dtype=int)
    start = time.monotonic()
    for k, (tr_idx, te_idx) in enumerate(skf.split(np.zeros(len(y)), y)):
        train_l, dev_l = stratified_split([letters[i] for i in tr_idx], "sector", 0.15, prof.seed + k)
        test_l = [letters[i] for i in te_idx]
        tr = to_windows(letters_to_dataset(train_l, schema), tok, prof.max_windows_per_letter, prof.seed)
        dv = to_windows(letters_to_dataset(dev_l, schema), tok)
        te = to_windows(letters_to_dataset(test_l, schema), tok)
        model = MultiHeadModel(load_encoder(base_dir), schema, pooling=card.get("pooling", "mean"),
                               class_weights=class_weights(tr, schema))
        with tempfile.TemporaryDirectory() as work:
            fit(model, tr, dv, prof, tok.pad_id, Path(work), console)
        logits = predict_letters(model, te, len(test_l), tok.pad_id)["sector"]
        preds[te_idx] = logits.argmax(1)
        base_preds[te_idx] = tfidf_baseline([letters[i].text for i in tr_idx], y[tr_idx].tolist(),
                                            [letters[i].text for i in te_idx])
        console.print(f"fold {k + 1}/{args.folds}: macro-F1 {f1_score(y[te_idx], preds[te_idx], average='macro'):.3f}"
                      f" (tf-idf {f1_score(y[te_idx], base_preds[te_idx], average='macro'):.3f})")
    result = {
        "base": args.base, "data": "real: tipdm2020 labeled", "n": len(letters), "folds": args.folds,
        "macro_f1": round(float(f1_score(y, preds, average="macro")), 4),
        "accuracy": round(float((y == preds).mean()), 4),
        "tfidf_macro_f1": round(float(f1_score(y, base_preds, average="macro")), 4),
        "tfidf_accuracy": round(float((y == base_preds).mean()), 4),
        "seconds": round(time.monotonic() - start, 1),
        "profile": {"epochs": args.epochs, "max_length": args.max_length},
    }
    print(json.dumps(result, ensure_ascii=False))
    if args.out:
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
