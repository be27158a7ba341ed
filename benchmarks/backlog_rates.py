"""What a model says about the real backlog, beside what hand-labelling finds in real intake.

Reads a `xinfang classify --sample` output (the 7,142 real tipdm2020 messages), leaves out the letters that are
in jijian (hand-labelled, possibly trained on) and reports on the rest: out-of-scope share, flag rates of the
rare heads, the share routed automatically and why the others go to a person.

    .venv/bin/xinfang classify --sample -o output/backlog.jsonl
    .venv/bin/python benchmarks/backlog_rates.py output/backlog.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from xinfang.config import get_settings
from xinfang.sources import JIJIAN_LETTERS, find_data_file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", type=Path, help="JSONL written by xinfang classify --sample")
    args = ap.parse_args()
    jijian = find_data_file(get_settings(), JIJIAN_LETTERS)
    labelled = {json.loads(line)["id"] for line in jijian.open(encoding="utf-8")} if jijian else set()
    rows = [json.loads(line) for line in args.output.open(encoding="utf-8") if line.strip()]
    rows = [r for r in rows if r.get("id") not in labelled]
    n = len(rows)
    if not n:
        raise SystemExit("no letters outside jijian in the output")
    primary = Counter((r.get("topic") or {}).get("primary") or "out_of_scope" for r in rows)
    reasons = Counter(reason.partition(":")[0] for r in rows for reason in r["route"]["reasons"])
    out = {
        "data": "real: tipdm2020 backlog letters not in jijian",
        "n": n,
        "out_of_scope_share": round(primary["out_of_scope"] / n, 4),
        "primary_topics": dict(primary.most_common()),
        "malicious_flag_rate": round(sum(bool(r.get("malicious", {}).get("flag")) for r in rows) / n, 4),
        "abusive_flag_rate": round(sum(bool(r.get("abusive", {}).get("flag")) for r in rows) / n, 4),
        "signed_rate": round(sum("signed" in r.get("credibility", {}).get("labels", []) for r in rows) / n, 4),
        "auto_routed_share": round(sum(r["route"]["decision"] == "auto" for r in rows) / n, 4),
        "human_reasons": dict(reasons.most_common()),
        "model": rows[0].get("model"),
    }
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
