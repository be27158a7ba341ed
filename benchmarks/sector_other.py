"""Should the sector head get an `other` class? Real letters, grouped 5-fold CV on jijian (tipdm2020 sector
letters train in every fold), the n-gram partner's model (character 1-3-gram TF-IDF, multinomial logistic
regression, C=30): seven classes (letters annotated `other` left out of training) against eight.

    .venv/bin/python benchmarks/sector_other.py --out benchmarks/results/sector_other.json
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import numpy as np

from xinfang.config import get_settings
from xinfang.labels import iter_records
from xinfang.letter_groups import grouped_folds, letter_groups
from xinfang.ngram_model import char_ngrams
from xinfang.schema import load_schema
from xinfang.sources import JIJIAN_LETTERS, find_data_file
from xinfang.text import normalise
from xinfang.training.data import real_letters, stratum
from xinfang.training.profiles import get_profile


def main() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    settings, schema, prof = get_settings(), load_schema(), get_profile("quick")
    letters, _ = real_letters(prof, schema, settings)
    raw = {str(r["id"]): (r.get("provenance") or {}).get("sector_raw")
           for _, r in iter_records(find_data_file(settings, JIJIAN_LETTERS))}
    folds = np.array(grouped_folds(letter_groups(letters), [stratum(x) for x in letters], 5, prof.seed))
    y = np.array(["other" if x.source == "jijian" and raw.get(x.id) == "other" else x.labels.get("sector") or ""
                  for x in letters])
    texts = [normalise(x.text) for x in letters]
    jijian = np.array([x.source == "jijian" for x in letters])
    result: dict = {"data": "real: jijian (grouped 5-fold CV) with tipdm2020 sector letters in training",
                    "n_other": int((jijian & (y == "other")).sum())}
    for variant in ("seven", "eight"):
        pred = np.empty(len(letters), dtype=object)
        for k in range(5):
            train = (folds != k) & (y != "") & ((y != "other") if variant == "seven" else True)
            test = (folds == k) & jijian
            vec = TfidfVectorizer(analyzer=partial(char_ngrams, min_n=1, max_n=3), sublinear_tf=True, min_df=2,
                                  max_features=60000)
            clf = LogisticRegression(C=30, max_iter=1000).fit(vec.fit_transform([t for t, m in zip(texts, train,
                                                                                                    strict=True)
                                                                                  if m]), y[train])
            pred[test] = clf.predict(vec.transform([t for t, m in zip(texts, test, strict=True) if m]))
        seven = jijian & (y != "") & (y != "other")
        classes = sorted(set(y[seven]))
        f1 = [2 * ((pred[seven] == c) & (y[seven] == c)).sum()
              / max((pred[seven] == c).sum() + (y[seven] == c).sum(), 1) for c in classes]
        other, said_other = jijian & (y == "other"), jijian & (pred == "other")
        result[variant] = {"seven_class_accuracy": round(float(np.mean(pred[seven] == y[seven])), 4),
                           "seven_class_macro_f1": round(float(np.mean(f1)), 4),
                           "predicted_other": int(said_other.sum()), "other_found": int((other & said_other).sum())}
        print(variant, result[variant], flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
