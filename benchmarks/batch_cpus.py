"""Batch scoring on 1, 2, ... CPUs: `xinfang classify` on real letters under each CPU plan (CPUs × worker
processes × threads), local and on Ray, the same letters each time (not a test; figures depend on the machine).

    .venv/bin/python benchmarks/batch_cpus.py --n 100                       # 1 vs 2 cores here
    .venv/bin/python benchmarks/batch_cpus.py --n 2000 --plans 1:1x1,4:1x4,8:2x4,16:4x4,16:16x1 --engines local,ray

Each run is a fresh `xinfang classify` process pinned to the first C CPUs (CPU affinity, which the job's own
CPU count honours), with XINFANG_BATCH_WORKERS / XINFANG_THREADS (Ray: --concurrency and --threads) set from
the plan; `default` lets the job derive its plan. Reported: letters/s of the scoring loop (the job's summary)
and wall seconds of the whole command (start-up, model loads, worker spawns included), the best of --rounds
rounds per plan. Writes
benchmarks/results/batch_cpus.json with the load average, which on a shared machine lowers every figure.
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

from xinfang.config import get_settings

ROOT = Path(__file__).resolve().parent.parent


def plan_args(plan: str, engine: str) -> tuple[int, dict[str, str], list[str]]:
    """'C:WxT' or 'C:default' -> CPUs, environment, classify options."""
    cpus, _, split = plan.partition(":")
    if split == "default":
        return int(cpus), {}, []
    workers, threads = split.split("x")
    if engine == "ray":
        return int(cpus), {}, ["--concurrency", workers, "--threads", threads]
    return int(cpus), {"XINFANG_BATCH_WORKERS": workers}, ["--threads", threads]


def run_once(src: Path, out_dir: Path, plan: str, engine: str, precision: str) -> dict:
    cpus, env, opts = plan_args(plan, engine)
    out = out_dir / f"{engine}-{plan.replace(':', '_')}.jsonl"
    pinned = sorted(os.sched_getaffinity(0))[:cpus]
    cmd = [str(ROOT / ".venv" / "bin" / "xinfang"), "classify", str(src), "-o", str(out), "--restart",
           "--no-progress", "--verbose", "--precision", precision, "--engine", engine, *opts]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True,
                          preexec_fn=lambda: os.sched_setaffinity(0, pinned))
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr[-2000:])
        raise SystemExit(f"{plan} {engine}: exit {proc.returncode}")
    summary = json.loads(Path(f"{out}.summary.json").read_text(encoding="utf-8"))
    said = [line for line in proc.stderr.splitlines() if "process(es)" in line or "actors x" in line]
    return {"plan": plan, "engine": engine, "cpus": len(pinned), "letters": summary["letters"]["results"],
            "letters_per_s": summary["this_run"]["letters_per_second"], "scoring_seconds": summary["this_run"]["seconds"],
            "wall_seconds": round(wall, 1), "job_said": said[-1].split("xinfang.batch: ")[-1].strip() if said else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100, help="real letters (jijian) per run")
    ap.add_argument("--plans", default="1:1x1,2:1x2,2:2x1,2:default", help="C:WxT or C:default, comma-separated")
    ap.add_argument("--engines", default="local", help="local and/or ray, comma-separated")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--rounds", type=int, default=2, help="rounds over all plans (best letters/s kept)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "batch_cpus.json")
    args = ap.parse_args()
    letters = get_settings().shared_data_dir / "jijian" / "letters.jsonl"
    load_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="batch-cpus-") as tmp:
        src = Path(tmp) / "letters.jsonl"
        with letters.open(encoding="utf-8") as fh, src.open("w", encoding="utf-8") as dst:
            for _, line in zip(range(args.n), fh, strict=False):
                row = json.loads(line)
                dst.write(json.dumps({"id": row["id"], "text": row["text"]}, ensure_ascii=False) + "\n")
        for round_ in range(args.rounds):  # plans in turn, round after round: a changing load hits all alike
            for engine in args.engines.split(","):
                for plan in args.plans.split(","):
                    rows.append({"round": round_ + 1, **run_once(src, Path(tmp), plan, engine, args.precision)})
                    print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    best: dict[str, float] = {}
    for r in rows:
        key = f"{r['engine']} {r['plan']}"
        best[key] = max(best.get(key, 0.0), r["letters_per_s"])
    result = {"command": " ".join(["benchmarks/batch_cpus.py", *sys.argv[1:]]), "usable_cpus": len(os.sched_getaffinity(0)),
              "loadavg_start": [round(x, 2) for x in load_start],
              "loadavg_end": [round(x, 2) for x in os.getloadavg()], "best_letters_per_s": best, "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
