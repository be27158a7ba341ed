"""Wall time of the `quick` profile from data to exported model (the budget of `make run`: <= 10 min on
2 cores), with per-stage timings and the dev/test figures, into a scratch models folder.

    .venv/bin/python benchmarks/train_quick.py [--base multilingual-e5-small]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console

from xinfang.config import Settings
from xinfang.training.pipeline import train_and_export

BUDGET_S = 600.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="multilingual-e5-small")
    ap.add_argument("--profile", default="quick")
    args = ap.parse_args()
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(models_dir=Path(tmp))
        start = time.monotonic()
        out = train_and_export(profile=args.profile, base=args.base, version="bench", settings=settings,
                               console=console)
        wall = time.monotonic() - start
        card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    result = {"base": args.base, "profile": args.profile, "wall_s": round(wall, 1), "budget_s": BUDGET_S,
              "within_budget": wall <= BUDGET_S, "cpus": os.cpu_count(), "timings_s": card["timings_s"],
              "training": card["training"]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
