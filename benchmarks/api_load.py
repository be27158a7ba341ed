"""A bounded load test of the API (issue 11 part 7): concurrent clients against a loopback server for a fixed
time. Not a test; figures depend on the machine (its load is recorded).

    .venv/bin/python benchmarks/api_load.py                                  # 16 clients, 60 s, models/current
    .venv/bin/python benchmarks/api_load.py --clients 4 --seconds 10 --out /tmp/smoke.json
    .venv/bin/python benchmarks/api_load.py --store-url postgresql+psycopg://... --workers 2

`xinfang serve` runs in a subprocess on 127.0.0.1 (a fresh state folder: a new API key, the default SQLite
store unless --store-url; auth on; the per-key rate limit off unless --rate-limit), then --clients asyncio
clients (httpx, one connection each) send real jijian letters one at a time to POST /v1/letters:score,
each under a new id, until --seconds have passed. Recorded: latency p50/p95/p99 (all answers and 200s),
throughput (200s per second), answers by status, errors (anything but a 200, or a 503/429 with
Retry-After), whether every 200-answered id has a row in the store afterwards, and the machine's load
(os.getloadavg before and after; client and server share its cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from serving_speed import free_port, load_letters, percentile, wait_ready
from sqlalchemy import select

from xinfang.engine import LetterIn
from xinfang.model_folder import ModelFolder
from xinfang.serving.keys import create_key
from xinfang.serving.store import ResultsStore, ScoredLetter

ROOT = Path(__file__).resolve().parent.parent
LETTERS = Path("/work/shared/data/jijian/letters.jsonl")
RETRY_OK = {429, 503}  # refusals a client is told to retry (with Retry-After): not errors


def start_server(args: argparse.Namespace, state: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "XINFANG_STATE_DIR": str(state), "XINFANG_RATE_LIMIT_REQUESTS": str(args.rate_limit),
           "XINFANG_LOG_FORMAT": "text"}
    if args.store_url:
        env["XINFANG_STORE_URL"] = args.store_url
    if args.threads:
        env["XINFANG_THREADS"] = str(args.threads)
    cmd = [str(Path(sys.executable).with_name("xinfang")), "serve", "--model", args.model, "--port", str(port),
           "--workers", str(args.workers), "--log-level", "warning"]
    log = (state / "server.log").open("w")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


class Tally:
    """What the clients saw."""

    def __init__(self) -> None:
        self.latency: list[float] = []
        self.latency_ok: list[float] = []
        self.status: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.answered: list[str] = []  # ids answered 200

    def record(self, letter_id: str, seconds: float, r: httpx.Response | None, exc: Exception | None) -> None:
        self.latency.append(seconds)
        if r is None:
            self.status[type(exc).__name__] += 1
            self.errors[type(exc).__name__] += 1
            return
        self.status[str(r.status_code)] += 1
        if r.status_code == 200:
            self.latency_ok.append(seconds)
            self.answered.append(letter_id)
        elif r.status_code not in RETRY_OK or "retry-after" not in r.headers:
            self.errors[f"{r.status_code} {r.json().get('error', {}).get('code', '') if r.content else ''}"] += 1


async def run_clients(url: str, key: str, letters: list[LetterIn], clients: int, seconds: float) -> tuple[Tally, float]:
    tally = Tally()
    counter = iter(range(1 << 62))
    deadline = time.monotonic() + seconds

    async def client(n: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"}) as http:
            for i in counter:
                if time.monotonic() >= deadline:
                    return
                x = letters[i % len(letters)]
                letter_id = f"load-{i}"
                t = time.perf_counter()
                r = exc = None
                try:
                    r = await http.post("/v1/letters:score", json={"id": letter_id, "text": x.text})
                except httpx.HTTPError as e:
                    exc = e
                tally.record(letter_id, time.perf_counter() - t, r, exc)
                if r is not None and r.status_code in RETRY_OK:
                    await asyncio.sleep(min(float(r.headers.get("retry-after", 1)), 1.0))

    t0 = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return tally, time.perf_counter() - t0


def stored_ids(url: str) -> set[str]:
    store = ResultsStore(url)
    try:
        with store.engine.connect() as conn:
            return set(conn.execute(select(ScoredLetter.letter_id)).scalars())
    finally:
        store.close()


def pct(values: list[float]) -> dict[str, float]:
    return {f"p{q}_ms": round(percentile(values, q) * 1e3, 1) for q in (50, 95, 99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "current"))
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="XINFANG_THREADS of the server (0: its own choice)")
    ap.add_argument("--store-url", default="", help="results store (default: SQLite in the fresh state folder)")
    ap.add_argument("--rate-limit", type=int, default=0, help="requests per key per minute (0: off)")
    ap.add_argument("--letters", type=Path, default=LETTERS)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "api_load.json")
    args = ap.parse_args()

    letters = load_letters(args.letters, 100_000)
    folder = ModelFolder.resolve(ROOT / "models", args.model)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="xinfang-load-") as tmp:
        state = Path(tmp)
        key = create_key(state / "api_keys", "load")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(args, state, port)
        try:
            wait_ready(url, proc)
            tally, wall = asyncio.run(run_clients(url, key, letters, args.clients, args.seconds))
            load_after = os.getloadavg()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        store_url = args.store_url or f"sqlite:///{state / 'results.sqlite'}"
        missing = sorted(set(tally.answered) - stored_ids(store_url))
    result: dict[str, Any] = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "model": {"name": folder.name, "version": folder.version},
        "server": {"workers": args.workers, "threads": args.threads or "onnxruntime's choice",
                   "store": args.store_url.split("://")[0] if args.store_url else "sqlite", "auth": "api key",
                   "rate_limit_per_min": args.rate_limit, "host": "127.0.0.1 (loopback; clients on the same machine)"},
        "clients": args.clients, "seconds": args.seconds, "wall_s": round(wall, 2),
        "letters": {"source": str(args.letters), "count": len(letters),
                    "mean_chars": round(sum(len(x.text) for x in letters) / len(letters), 1)},
        "requests": len(tally.latency), "answered_200": len(tally.answered),
        "throughput_letters_per_s": round(len(tally.answered) / wall, 2),
        "latency_all": pct(tally.latency), "latency_200": pct(tally.latency_ok),
        "status": dict(tally.status), "errors": dict(tally.errors), "error_count": sum(tally.errors.values()),
        "answered_200_missing_from_store": len(missing), "missing_ids": missing[:20],
        "machine": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in load_after],
                    "note": "a shared, busy machine: other jobs ran meanwhile; latency includes their load"},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("requests", "throughput_letters_per_s", "latency_200", "status",
                                             "errors", "answered_200_missing_from_store")}, ensure_ascii=False))


if __name__ == "__main__":
    main()
