"""The sample backlog for `classify --sample`: real tipdm2020 messages if present, else generated letters."""

from __future__ import annotations

import json
import os
from pathlib import Path

from xinfang.config import Settings
from xinfang.errors import XinfangError

REAL = Path("tipdm2020") / "unlabeled.jsonl"
GENERATED_NAME = "generated_letters.jsonl"
GENERATED = {"n": 2000, "seed": 7, "split": "test"}


def sample_input(settings: Settings, output: Path) -> tuple[Path, str]:
    """(input file, description): settings.shared_data_dir/tipdm2020/unlabeled.jsonl (7,142 real messages)
    if it exists, else 2,000 generated test-split letters written once next to the output."""
    real = settings.shared_data_dir / REAL
    if real.is_file():
        return real, "tipdm2020 unlabeled messages (real; no licence stated: evaluation and demos only)"
    target = output.parent / GENERATED_NAME
    if not target.is_file():
        try:
            from xinfang.training.generator import generate_letters
        except ImportError as exc:
            raise XinfangError(f"no sample backlog: {real} is missing and generating letters needs the "
                               f"training extras (pip install -e '.[train]'; {type(exc).__name__}: "
                               f"{exc.name})") from None
        letters = generate_letters(**GENERATED)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for x in letters:
                row = {"id": x.id, "text": x.text, "source": "generated"}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, target)
    return target, f"{GENERATED['n']:,} generated letters (seed {GENERATED['seed']}, test split)"
