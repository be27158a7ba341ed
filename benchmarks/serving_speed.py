"""Speed of the served model and of the API, on real letters (not a test; figures depend on the machine).

    .venv/bin/python benchmarks/serving_speed.py --model current --n 500
    .venv/bin/python benchmarks/serving_speed.py --n 50 --requests 60      # a short smoke run

1. Throughput (letters/s, tokens/s) on the first --n letters of tipdm2020/unlabeled.jsonl, cut into the
   model's windows exactly as the engine cuts them:
   - torch eager: the *base encoder* named in the model card (fetch_base), run by transformers AutoModel
     at batch 16, each batch padded to its longest window. The model folder holds only ONNX, so this is a
     speed baseline of the same architecture (same layers, hidden size and vocabulary; the fine-tuned
     heads, a few linear layers, are left out), not the fine-tuned weights;
   - the engine (onnxruntime) fp32 and int8, model outputs only (`letter_logits`: length-sorted batches);
   - the engine int8 `score()`: model plus calibration, routing and the rule evidence spans;
   - with --int8 GRAPH (repeatable), the engine serving that int8 graph in place of the folder's (a folder of
     links to the model's files, e.g. a re-export by benchmarks/int8_nodes.py --save), model outputs only.
   The rows run in turn on chunks of --chunk letters, so a shared machine's changing load hits all alike.
2. API latency p50/p95/p99 at concurrency 1, 4 and 16: `xinfang serve` in a subprocess on 127.0.0.1
   (fresh results store, auth off), an httpx client sending POST /v1/letters:score, bounded by --requests
   and --seconds per level. At concurrency 1 against the engine's own latency (int8 `score()` of one
   letter, in this process), measured in alternating blocks with the API requests for the same letters.
   Client and server share the machine's cores.
3. Peak RSS of the server process (VmHWM).

Targets: the served model (engine at --precision auto) >= 3x torch eager; API adds <= 15% at concurrency 1; server peak RSS <= 600 MB.
Do not run the full benchmark while a training run is going (`pgrep -f "xinfang train"`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xinfang.config import get_settings
from xinfang.engine import Engine, LetterIn
from xinfang.model_folder import ModelFolder

ROOT = Path(__file__).resolve().parent.parent
TORCH_BATCH = 16


# ---- data -------------------------------------------------------------------------------------------------

def load_letters(path: Path, n: int) -> list[LetterIn]:
    out: list[LetterIn] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            text = (row.get("text") or "").strip()
            if text:
                out.append(LetterIn(str(row.get("id") or len(out)), text))
            if len(out) >= n:
                break
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


# ---- throughput ---------------------------------------------------------------------------------------

def interleaved(runners: dict[str, Callable[[list[LetterIn]], Any]], letters: list[LetterIn], chunk: int,
                repeat: int) -> dict[str, float]:
    """Seconds each runner needs for all letters, run chunk by chunk in turn (so drift in the load of a
    shared machine hits every runner alike); per chunk the best of `repeat` runs is kept."""
    total = dict.fromkeys(runners, 0.0)
    for i in range(0, len(letters), chunk):
        part = letters[i:i + chunk]
        for name, run in runners.items():
            best = float("inf")
            for _ in range(repeat):
                t = time.perf_counter()
                run(part)
                best = min(best, time.perf_counter() - t)
            total[name] += best
    return total


def torch_runner(base: Path, tokenizer_windows: Callable[[str], list[list[int]]], pad_id: int,
                 threads: int) -> tuple[Callable[[list[LetterIn]], None], str]:
    """Encoder forward of the base in torch eager, batches of 16 windows in letter order, padded to the
    longest window of each batch."""
    import torch
    from transformers import AutoModel

    if threads:
        torch.set_num_threads(threads)
    model = AutoModel.from_pretrained(str(base)).eval()
    cfg = model.config
    desc = (f"{type(model).__name__} {cfg.num_hidden_layers} layers x {cfg.hidden_size}, vocab {cfg.vocab_size}, "
            f"{torch.get_num_threads()} threads")

    def run(letters: list[LetterIn]) -> None:
        windows = [w for x in letters for w in tokenizer_windows(x.text)]
        with torch.inference_mode():
            for i in range(0, len(windows), TORCH_BATCH):
                batch = windows[i:i + TORCH_BATCH]
                longest = max(len(w) for w in batch)
                ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), longest), dtype=torch.long)
                for r, w in enumerate(batch):
                    ids[r, :len(w)] = torch.tensor(w)
                    mask[r, :len(w)] = 1
                model(input_ids=ids, attention_mask=mask)

    return run, desc


def with_int8(folder: ModelFolder, graph: Path, tmp: Path) -> ModelFolder:
    """A folder of links to `folder`'s files whose model.int8.onnx is `graph`."""
    out = tmp / graph.stem
    out.mkdir(parents=True)
    for f in folder.path.iterdir():
        (out / f.name).symlink_to(graph.resolve() if f.name == "model.int8.onnx" else f.resolve())
    return ModelFolder(out)


def base_folder(folder: ModelFolder, override: str) -> Path:
    if override:
        p = Path(override)
        if p.is_dir():
            return p
    from xinfang.training.bases import fetch_base

    name = override or (folder.card.get("base") or {}).get("name")
    if not name:
        raise SystemExit("the model card names no base encoder; pass --base FOLDER")
    return Path(fetch_base(name))


# ---- API ----------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(model: Path, precision: str, port: int, state_dir: Path, threads: int) -> subprocess.Popen:
    env = {**os.environ, "XINFANG_STATE_DIR": str(state_dir), "XINFANG_THREADS": str(threads)}
    exe = Path(sys.executable).with_name("xinfang")
    cmd = [str(exe), "serve", "--model", str(model), "--precision", precision, "--port", str(port),
           "--no-auth", "--log-level", "warning"]
    log = (state_dir / "server.log").open("w")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit("the server did not become ready")


async def load_level(url: str, letters: list[LetterIn], concurrency: int, requests: int, seconds: float,
                     tag: str) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        async def worker() -> None:
            nonlocal errors
            for i in counter:
                if time.monotonic() > deadline:
                    return
                x = letters[i % len(letters)]
                t = time.perf_counter()
                r = await client.post("/v1/letters:score", json={"id": f"{tag}-{i}", "text": x.text})
                latencies.append(time.perf_counter() - t)
                errors += r.status_code != 200

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"concurrency": concurrency, "requests": len(latencies), "errors": errors, "wall_s": wall,
            "letters_per_s": len(latencies) / wall, **{f"p{q}_ms": percentile(latencies, q) * 1e3
                                                       for q in (50, 95, 99)}}


def paired_latency(url: str, engine: Engine, letters: list[LetterIn], requests: int, seconds: float,
                   block: int = 10) -> tuple[dict[str, Any], dict[str, Any]]:
    """Concurrency 1: blocks of `block` in-process engine calls (int8 `score()` of one letter) alternating
    with blocks of as many API requests for the same letters, so drift in machine load hits both alike."""
    import httpx

    eng: list[float] = []
    api: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=60) as client:
        for start in range(0, requests, block):
            if time.monotonic() > deadline:
                break
            idx = range(start, min(start + block, requests))
            for i in idx:
                t = time.perf_counter()
                engine.score([letters[i % len(letters)]])
                eng.append(time.perf_counter() - t)
            for i in idx:
                t = time.perf_counter()
                r = client.post("/v1/letters:score", json={"id": f"c1-{i}", "text": letters[i % len(letters)].text})
                api.append(time.perf_counter() - t)
                errors += r.status_code != 200
    stats = lambda v: {f"p{q}_ms": percentile(v, q) * 1e3 for q in (50, 95, 99)}  # noqa: E731
    wall = sum(api)
    return ({"requests": len(eng), **stats(eng)},
            {"concurrency": 1, "requests": len(api), "errors": errors, "wall_s": wall,
             "letters_per_s": len(api) / wall if wall else 0.0, **stats(api)})


# ---- main ---------------------------------------------------------------------------------------------

def main() -> None:
    settings = get_settings()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="current", help="'current', name/version or a model folder")
    ap.add_argument("--n", type=int, default=500, help="letters for the throughput runs")
    ap.add_argument("--data", type=Path, default=settings.shared_data_dir / "tipdm2020" / "unlabeled.jsonl")
    ap.add_argument("--base", default="", help="base encoder for the torch baseline (default: the model card's)")
    ap.add_argument("--threads", type=int, default=0, help="threads for torch and onnxruntime; 0 = their default")
    ap.add_argument("--repeat", type=int, default=1, help="throughput runs per chunk and row (best is kept)")
    ap.add_argument("--chunk", type=int, default=50, help="letters per interleaved throughput chunk")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--requests", type=int, default=300, help="API requests per concurrency level (at most)")
    ap.add_argument("--seconds", type=float, default=60, help="time per concurrency level (at most)")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-api", action="store_true")
    ap.add_argument("--int8", type=Path, action="append", default=[], help="also serve this int8 graph (a row each)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()

    running = subprocess.run(["pgrep", "-f", "xinfang train"], capture_output=True, text=True).stdout.split()
    if running:
        print(f"NOTE: a training run is going (pids {' '.join(running)}): figures are disturbed; keep --n small")
    folder = ModelFolder.resolve(settings.models_dir, args.model)
    letters = load_letters(args.data, args.n)
    out: dict[str, Any] = {"command": "python " + " ".join(sys.argv), "model": f"{folder.name}/{folder.version}",
                           "letters": len(letters),
                           "cpus": os.cpu_count(), "training_running": bool(running),
                           "load_average_1m": os.getloadavg()[0], "loadavg_start": os.getloadavg(),
                           "served_precision": folder.resolve_precision("auto")}
    int8 = Engine(folder, precision="int8", threads=args.threads)
    windows = [w.ids for x in letters for w in int8.tokenizer.windows(x.text)]
    n_tokens = sum(len(w) for w in windows)
    print(f"model {out['model']}; {len(letters)} letters, {len(windows)} windows, {n_tokens} tokens "
          f"(mean {n_tokens / len(letters):.0f} tokens/letter); {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")

    runners: dict[str, Callable[[list[LetterIn]], Any]] = {}
    if not args.skip_torch:
        base = base_folder(folder, args.base)
        run_torch, desc = torch_runner(base, lambda t: [w.ids for w in int8.tokenizer.windows(t)], int8.pad_id,
                                       args.threads)
        print(f"torch eager baseline: {base} ({desc})")
        out["torch"] = {"base": str(base), "model": desc, "batch": TORCH_BATCH}
        runners["torch eager encoder (batch 16, padded)"] = run_torch
    fp32 = Engine(folder, precision="fp32", threads=args.threads)
    runners["engine fp32 (model outputs)"] = lambda xs: fp32.letter_logits([x.text for x in xs])
    runners["engine int8 (model outputs)"] = lambda xs: int8.letter_logits([x.text for x in xs])
    runners["engine int8 score() (+ calibration, spans)"] = int8.score
    variants = Path(tempfile.mkdtemp(prefix="xinfang-int8-"))
    for graph in args.int8:
        engine = Engine(with_int8(folder, graph, variants), precision="int8", threads=args.threads)
        runners[f"engine int8 {graph} (model outputs)"] = lambda xs, e=engine: e.letter_logits([x.text for x in xs])
    interleaved(runners, letters[:4], 4, 1)  # warm-up
    rows = list(interleaved(runners, letters, args.chunk, args.repeat).items())
    shutil.rmtree(variants, ignore_errors=True)
    out["loadavg_end"] = os.getloadavg()

    print(f"\n{'throughput':<44}{'letters/s':>12}{'tokens/s':>12}{'vs torch':>10}")
    base_s = rows[0][1] if not args.skip_torch else None
    int8_s = dict(rows)["engine int8 (model outputs)"]
    out["throughput"] = []
    for name, s in rows:
        ratio = f"{base_s / s:.2f}x" if base_s else "-"
        print(f"{name:<44}{len(letters) / s:>12.1f}{n_tokens / s:>12.0f}{ratio:>10}")
        out["throughput"].append({"name": name, "seconds": s, "letters_per_s": len(letters) / s,
                                  "tokens_per_s": n_tokens / s, **({"vs_torch": base_s / s} if base_s else {})})
    if base_s:
        speedup = base_s / int8_s
        served = base_s / dict(rows)[f"engine {out['served_precision']} (model outputs)"]
        out["int8_vs_torch"], out["served_vs_torch"] = speedup, served
        print(f"engine int8 vs torch eager: {speedup:.2f}x; served ({out['served_precision']}) {served:.2f}x "
              f"(target >= 3x: {'met' if served >= 3 else 'NOT met'})")

    if args.skip_api:
        _write(args.json, out)
        return
    state_dir = Path(tempfile.mkdtemp(prefix="xinfang-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(folder.path, "int8", port, state_dir, args.threads)
    try:
        wait_ready(url, proc)
        levels = [int(c) for c in args.concurrency.split(",")]
        asyncio.run(load_level(url, letters, 1, 5, 30, "warm"))
        eng, one = paired_latency(url, int8, letters, args.requests, args.seconds)
        results = [one] + [asyncio.run(load_level(url, letters, c, args.requests, args.seconds, f"c{c}"))
                           for c in levels if c != 1]
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(state_dir, ignore_errors=True)

    print(f"\n{'latency (ms)':<28}{'requests':>9}{'errors':>7}{'p50':>9}{'p95':>9}{'p99':>9}{'letters/s':>11}")
    print(f"{'engine int8 score() alone':<28}{eng['requests']:>9}{'':>7}{eng['p50_ms']:>9.1f}"
          f"{eng['p95_ms']:>9.1f}{eng['p99_ms']:>9.1f}{1000 / eng['p50_ms']:>11.1f}")
    for r in results:
        print(f"{'API, concurrency ' + str(r['concurrency']):<28}{r['requests']:>9}{r['errors']:>7}{r['p50_ms']:>9.1f}"
              f"{r['p95_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['letters_per_s']:>11.1f}")
    out["engine_latency"], out["api"], out["server_peak_rss_mb"] = eng, results, rss
    if one["requests"]:
        added = one["p50_ms"] / eng["p50_ms"] - 1
        out["api_added_p50"] = added
        print(f"API at concurrency 1 adds {added:+.1%} to the engine's p50 (target <= 15%: "
              f"{'met' if added <= 0.15 else 'NOT met'})")
    print(f"server peak RSS: {rss:.0f} MB (target <= 600 MB: {'met' if rss <= 600 else 'NOT met'})")
    _write(args.json, out)


def _write(path: Path | None, out: dict[str, Any]) -> None:
    if path:
        path.write_text(json.dumps(out, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
