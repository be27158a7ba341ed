"""A bounded load test of the API (issue 11 part 7): concurrent clients against a loopback server for a fixed
time. Not a test; figures depend on the machine (its load is recorded).

    .venv/bin/python benchmarks/api_load.py                                  # 16 clients, 60 s, models/current
    .venv/bin/python benchmarks/api_load.py --clients 4 --seconds 10 --out /tmp/smoke.json
    .venv/bin/python benchmarks/api_load.py --store-url postgresql+psycopg://... --workers 2
    .venv/bin/python benchmarks/api_load.py --postgres --workers 2 --kill-worker-at 20 \
        --out benchmarks/results/api_faults_kill.json                      # kill -9 one worker under load
    .venv/bin/python benchmarks/api_load.py --postgres --stop-postgres-at 20 --outage-s 10 \
        --out benchmarks/results/api_faults_postgres.json                  # PostgreSQL away for 10 s

`xinfang serve` runs in a subprocess on 127.0.0.1 (a fresh state folder: a new API key, the default SQLite
store unless --store-url; auth on; the per-key rate limit off unless --rate-limit), then --clients asyncio
clients (httpx, one connection each) send real jijian letters one at a time to POST /v1/letters:score,
each under a new id, until --seconds have passed. Recorded: latency p50/p95/p99 (all answers and 200s),
throughput (200s per second), answers by status, errors (anything but a 200, or a 503/429 with
Retry-After), whether every 200-answered id has a row in the store afterwards, and the machine's load
(os.getloadavg before and after; client and server share its cores).

Faults (--postgres starts a throw-away PostgreSQL cluster, tests/pg_cluster.py, for the store):
--kill-worker-at T sends SIGKILL to one of the server's worker processes T s into the run (uvicorn starts a
new one); requests in flight on it fail at the transport (never a 200, so nothing accepted is lost), the
other worker goes on. --stop-postgres-at T stops the cluster (immediate mode) for --outage-s seconds:
letters meanwhile should get 503 store_unavailable with Retry-After, then 200s again. Answers are counted
per phase between these events, with the time from the restart to the first 200.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
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
        self.timeline: list[tuple[float, str]] = []  # (monotonic time of the answer, its status)

    def record(self, letter_id: str, seconds: float, r: httpx.Response | None, exc: Exception | None) -> None:
        self.latency.append(seconds)
        status = type(exc).__name__ if r is None else str(r.status_code)
        self.timeline.append((time.monotonic(), status))
        self.status[status] += 1
        if r is None:
            self.errors[status] += 1
            return
        if r.status_code == 200:
            self.latency_ok.append(seconds)
            self.answered.append(letter_id)
        elif r.status_code not in RETRY_OK or "retry-after" not in r.headers:
            self.errors[f"{r.status_code} {r.json().get('error', {}).get('code', '') if r.content else ''}"] += 1


async def run_clients(url: str, key: str, letters: list[LetterIn], clients: int, seconds: float,
                      faults: Faults) -> tuple[Tally, float]:
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
    await asyncio.gather(*(client(n) for n in range(clients)), faults.run())
    return tally, time.perf_counter() - t0


class Faults:
    """The faults of one run, at their times (seconds after the clients start), and when they happened."""

    def __init__(self, args: argparse.Namespace, server_pid: int, cluster: Any = None):
        self.args, self.server_pid, self.cluster = args, server_pid, cluster
        self.events: list[tuple[float, str]] = []  # (monotonic time, what)

    def workers(self) -> list[int]:
        """The server's live worker processes (a killed one stays a zombie until uvicorn reaps it)."""
        found = []
        for child in psutil.Process(self.server_pid).children():
            try:
                if child.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(child.cmdline()):
                    found.append(child.pid)
            except psutil.Error:
                continue
        return found

    async def run(self) -> None:
        t0 = time.monotonic()
        plan = []
        if self.args.kill_worker_at is not None:
            plan.append((self.args.kill_worker_at, self.kill_worker))
        if self.args.stop_postgres_at is not None:
            plan.append((self.args.stop_postgres_at, self.outage))
        for at, act in sorted(plan, key=lambda x: x[0]):
            await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
            await act()

    async def kill_worker(self) -> None:
        before = self.workers()
        os.kill(before[0], signal.SIGKILL)
        self.events.append((time.monotonic(), f"SIGKILL worker {before[0]} of {len(before)}"))
        for _ in range(600):
            await asyncio.sleep(0.1)
            now = self.workers()
            if len(now) == len(before) and before[0] not in now:
                self.events.append((time.monotonic(), f"worker restarted by uvicorn ({len(now)} running)"))
                return

    async def outage(self) -> None:
        await asyncio.to_thread(self.cluster.stop, "immediate")
        self.events.append((time.monotonic(), "PostgreSQL stopped (immediate)"))
        await asyncio.sleep(self.args.outage_s)
        await asyncio.to_thread(self.cluster.start)
        self.events.append((time.monotonic(), "PostgreSQL started again"))

    def phases(self, tally: Tally, start: float) -> list[dict[str, Any]]:
        """Answers by status between consecutive events (from the clients' start to the end)."""
        edges = [(start, "start"), *sorted(self.events), (float("inf"), "end")]
        out = []
        for (a, name), (b, _) in itertools.pairwise(edges):
            statuses = Counter(st for t, st in tally.timeline if a <= t < b)
            first_ok = min((t for t, st in tally.timeline if a <= t < b and st == "200"), default=None)
            out.append({"from": name, "at_s": round(a - start, 2), "status": dict(statuses),
                        "first_200_after_s": None if first_ok is None else round(first_ok - a, 2)})
        return out


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
    ap.add_argument("--postgres", action="store_true", help="the store on a throw-away PostgreSQL cluster")
    ap.add_argument("--kill-worker-at", type=float, default=None, help="SIGKILL one worker this many s in")
    ap.add_argument("--stop-postgres-at", type=float, default=None, help="stop PostgreSQL this many s in")
    ap.add_argument("--outage-s", type=float, default=10.0, help="how long PostgreSQL stays stopped")
    args = ap.parse_args()
    if args.stop_postgres_at is not None and not args.postgres:
        ap.error("--stop-postgres-at needs --postgres")
    cluster = None
    if args.postgres:
        sys.path.insert(0, str(ROOT / "tests"))
        from pg_cluster import PgCluster, find_bindir

        bindir = find_bindir()
        if bindir is None:
            ap.error("PostgreSQL is not installed (make install)")
        cluster = PgCluster(bindir)
        cluster.start()
        args.store_url = cluster.new_database()
        durable_commits(cluster, args.store_url)
    try:
        run(args, cluster)
    finally:
        if cluster is not None:
            cluster.remove()


def durable_commits(cluster: Any, url: str) -> None:
    """The test cluster runs with synchronous_commit off (fast tests); a commit is durable only with it on, as
    in production, so the benchmark's database turns it on (a database's setting beats the server's)."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    with psycopg.connect(host=str(cluster.folder), user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = on')


def run(args: argparse.Namespace, cluster: Any) -> None:

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
            faults = Faults(args, proc.pid, cluster)
            start = time.monotonic()
            tally, wall = asyncio.run(run_clients(url, key, letters, args.clients, args.seconds, faults))
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
                   "store": ("postgresql, throw-away cluster (tests/pg_cluster.py: fsync off; synchronous_commit on)" if cluster else
                             args.store_url.split("://")[0] if args.store_url else "sqlite"), "auth": "api key",
                   "rate_limit_per_min": args.rate_limit, "host": "127.0.0.1 (loopback; clients on the same machine)"},
        "clients": args.clients, "seconds": args.seconds, "wall_s": round(wall, 2),
        "letters": {"source": str(args.letters), "count": len(letters),
                    "mean_chars": round(sum(len(x.text) for x in letters) / len(letters), 1)},
        "requests": len(tally.latency), "answered_200": len(tally.answered),
        "throughput_letters_per_s": round(len(tally.answered) / wall, 2),
        "latency_all": pct(tally.latency), "latency_200": pct(tally.latency_ok),
        "status": dict(tally.status), "errors": dict(tally.errors), "error_count": sum(tally.errors.values()),
        "answered_200_missing_from_store": len(missing), "missing_ids": missing[:20],
        "phases": faults.phases(tally, start) if faults.events else None,
        "machine": {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in load_after],
                    "note": "a shared, busy machine: other jobs ran meanwhile; latency includes their load"},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("requests", "throughput_letters_per_s", "latency_200", "status",
                                             "errors", "answered_200_missing_from_store", "phases")},
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
