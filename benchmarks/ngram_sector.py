"""The n-gram model's sector head alone, class-balanced or not, by grouped 5-fold CV on the real letters
(jijian with the seven classes, tipdm2020 with its original labels), grouped as cv_jijian groups them but
built over the sector-labelled letters only, so the folds are not cv_jijian's.

    .venv/bin/python benchmarks/ngram_sector.py --out benchmarks/results/ngram_sector.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from xinfang.config import get_settings
from xinfang.letter_groups import grouped_folds, letter_groups
from xinfang.schema import load_schema
from xinfang.training.data import real_letters, stratum
from xinfang.training.ngram import fit_ngram_model
from xinfang.training.profiles import get_profile


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    schema, prof = load_schema(), get_profile("quick")
    real, _ = real_letters(prof, schema, get_settings())
    real = [x for x in real if "sector" in x.labels]
    folds = np.array(grouped_folds(letter_groups(real), [stratum(x) for x in real], args.folds, prof.seed))
    sector = schema.head("sector")
    only_sector = schema.model_copy(update={"heads": [sector]})
    y = np.array([sector.class_ids.index(x.labels["sector"]) for x in real])
    source = np.array([x.source for x in real])
    result: dict = {"data": "real, grouped k-fold CV (submitter and near-duplicate groups)", "folds": args.folds}
    for balanced in (False, True):
        pred = np.zeros(len(real), dtype=int)
        for k in range(args.folds):
            model = fit_ngram_model([x for x, f in zip(real, folds, strict=True) if f != k], only_sector,
                                    balanced_single=balanced)
            test = np.where(folds == k)[0]
            pred[test] = model.logits([real[i].text for i in test])["sector"].argmax(1)
        result["balanced" if balanced else "unweighted"] = {
            name: {"n": int(mask.sum()), "accuracy": round(accuracy_score(y[mask], pred[mask]), 4),
                   "macro_f1": round(f1_score(y[mask], pred[mask], average="macro"), 4)}
            for name, mask in (("jijian", source == "jijian"), ("tipdm2020", source == "tipdm2020"))}
    result["loadavg"] = list(os.getloadavg())
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
