"""Wall time of the `quick` profile from data to exported model (the budget of `make run`: <= 10 min on
2 cores), with per-stage timings and the dev/test figures, into a scratch models folder.

    .venv/bin/python benchmarks/train_quick.py [--base multilingual-e5-small] [--beside-load] [--out F.json]

`--beside-load` runs a second CPU-bound process (numpy matrix products on every core, as another training
would) for the whole run, the condition the issue names besides an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from xinfang.config import Settings
from xinfang.training.pipeline import train_and_export

BUDGET_S = 600.0
LOAD = "import numpy as np\na = np.random.rand(1024, 1024).astype(np.float32)\nwhile True:\n    a @ a\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="multilingual-e5-small")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--beside-load", action="store_true", help="run a second CPU-bound process meanwhile")
    ap.add_argument("--out", type=Path, default=None, help="also write the result as JSON here")
    args = ap.parse_args()
    console = Console(stderr=True)
    load = subprocess.Popen([sys.executable, "-c", LOAD]) if args.beside_load else None
    try:
        result = run(args, console)
    finally:
        if load is not None:
            load.kill()
    result["beside_cpu_load"] = args.beside_load
    result["loadavg_end"] = list(os.getloadavg())
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")


def run(args: argparse.Namespace, console: Console) -> dict:
    """Train and export the profile into a scratch folder; wall time and the card's timings."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(models_dir=Path(tmp))
        start = time.monotonic()
        out = train_and_export(profile=args.profile, base=args.base, version="bench", settings=settings,
                               console=console)
        wall = time.monotonic() - start
        card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    return {"base": args.base, "profile": args.profile, "wall_s": round(wall, 1), "budget_s": BUDGET_S,
            "within_budget": wall <= BUDGET_S, "cpus": os.cpu_count(), "timings_s": card["timings_s"],
            "training": card["training"]}


if __name__ == "__main__":
    main()
