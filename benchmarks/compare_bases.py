"""The base-encoder comparison table (README): one quick-profile model per base plus its sector CV.

Reproduce (2 cores, one after the other on an idle machine):
    .venv/bin/xinfang train --profile quick --version quick-e5
    .venv/bin/xinfang train --profile quick --base m3e-small --version quick-m3e --no-set-current
    .venv/bin/python benchmarks/cv_sector.py --base multilingual-e5-small --out benchmarks/results/cv_sector_e5.json
    .venv/bin/python benchmarks/cv_sector.py --base m3e-small --out benchmarks/results/cv_sector_m3e.json
    .venv/bin/python benchmarks/compare_bases.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = {"multilingual-e5-small": ("xinfang/quick-e5", "cv_sector_e5.json"),
        "m3e-small": ("xinfang/quick-m3e", "cv_sector_m3e.json")}


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def row(base: str, model: Path, cv: Path) -> list[str]:
    card = json.loads((model / "model_card.json").read_text(encoding="utf-8")) if model.is_dir() else {}
    cvr = json.loads(cv.read_text(encoding="utf-8")) if cv.is_file() else {}
    test = card.get("metrics", {}).get("test", {})
    gen = test.get("generated", {})
    cold = test.get("cold_dev", {}).get("abusive", {})
    export = card.get("export", {})
    size = export.get("size_bytes", {})
    return [
        base, card.get("base", {}).get("licence", "—"),
        f"{_f(cvr.get('macro_f1'))} (TF-IDF {_f(cvr.get('tfidf_macro_f1'))})",
        _f(cold.get("accuracy")),
        " / ".join(_f(gen.get(h, {}).get("macro", {}).get("f1")) for h in ("topic", "credibility", "malicious")),
        f"{card.get('training', {}).get('seconds', '—')} s ({card.get('timings_s', {}).get('total_s', '—')} s total)",
        f"{size.get('fp32', 0) / 2**20:.0f} / {size.get('int8', 0) / 2**20:.0f} MiB",
        _f(export.get("int8_min_agreement")),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", type=Path, default=ROOT / "models")
    ap.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    head = ["base", "licence", "sector macro-F1, 5-fold CV (real)", "COLD dev accuracy (real)",
            "topic / credibility / malicious macro-F1 (generated test)", "training time (quick)",
            "fp32 / int8 size", "int8 label agreement (min head, dev)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for base, (model, cv) in RUNS.items():
        print("| " + " | ".join(row(base, args.models_dir / model, args.results_dir / cv)) + " |")


if __name__ == "__main__":
    main()
