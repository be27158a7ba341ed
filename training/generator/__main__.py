"""Command line: ``python -m xinfang.training.generator --n 20 --seed 1 --split train -o letters.jsonl``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from xinfang.training.generator.generate import generate_letters
from xinfang.training.generator.model import GeneratedLetter
from xinfang.training.generator.stats import summarize


def _show(letter: GeneratedLetter) -> str:
    spans = "; ".join(f"{s.type}:{s.text}" for s in letter.spans)
    return (f"== {letter.id}  topic={','.join(letter.topic)} (primary {letter.topic_primary})  "
            f"malicious={letter.malicious}\n   credibility={','.join(letter.credibility) or '-'}\n"
            f"{letter.text}\n   spans: {spans or '-'}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m xinfang.training.generator",
                                 description="Generate labelled synthetic complaint letters.")
    ap.add_argument("--n", type=int, default=20, help="number of letters")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", choices=["train", "dev", "test"], default="train")
    ap.add_argument("--malicious-rate", type=float, default=0.2)
    ap.add_argument("-o", "--output", type=Path, help="JSONL file to write (default: print letters)")
    ap.add_argument("--stats", action="store_true", help="print summary statistics as JSON")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    letters = generate_letters(args.n, seed=args.seed, split=args.split, malicious_rate=args.malicious_rate)
    seconds = time.perf_counter() - t0
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with args.output.open("w", encoding="utf-8") as fh:
            for x in letters:
                fh.write(json.dumps(x.to_dict(), ensure_ascii=False) + "\n")
        print(f"wrote {len(letters)} letters to {args.output}", file=sys.stderr)
    elif not args.stats:
        for x in letters:
            print(_show(x))
    if args.stats:
        print(json.dumps(summarize(letters, seconds), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
