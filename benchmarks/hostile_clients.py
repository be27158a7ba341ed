"""The API under hostile clients (issue 7): stalled uploads without a key, stalled uploads with one, and a short
letter behind a batch of long ones. Not a test; figures depend on the machine.

    .venv/bin/python benchmarks/hostile_clients.py --model models/current
    .venv/bin/python benchmarks/hostile_clients.py --model M --root /tmp/before   # a checkout from git archive REV

1. --uploads clients each declare a 4,000,000-byte body, send 3.9 MB of it without an API key and stall:
   the server's RSS before and after, and how many were answered before their body was read.
2. The same with a valid key, with XINFANG_BODY_TIMEOUT_S=2: how many got 408 and the RSS after.
3. A batch of 4 letters of --long characters, then (50 ms later) one short letter: the short letter's latency
   against the same letter alone. The server runs from --root (`python -c` with that folder first on sys.path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SHORT = "公交线路太少，希望增加班次。"
LONG_UNIT = "我实名举报某街道办副主任王某某在工地收受工程老板红包五万元有转账记录和照片为证请纪委调查核实"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def stalled_upload(port: int, headers: str, send_bytes: int, results: list[str],
                         keep: list[asyncio.StreamWriter]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    keep.append(writer)  # the connection stays open (stalled) until the caller has measured
    writer.write(f"POST /v1/letters:score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: 4000000\r\n{headers}\r\n".encode())
    chunk = b'{"text": "' + b"a" * 65536
    try:
        sent = 0
        while sent < send_bytes:
            writer.write(chunk)
            async with asyncio.timeout(5):
                await writer.drain()
            sent += len(chunk)
    except (TimeoutError, ConnectionError):
        pass
    try:
        async with asyncio.timeout(4):
            line = await reader.readline()
        results.append(line.decode(errors="replace").strip() or "no answer")
    except (TimeoutError, ConnectionError):
        results.append("no answer")


async def uploads(port: int, n: int, headers: str, pid: int, settle: float) -> tuple[float, dict[str, int]]:
    results: list[str] = []
    keep: list[asyncio.StreamWriter] = []
    await asyncio.gather(*(stalled_upload(port, headers, 3_900_000, results, keep) for _ in range(n)))
    await asyncio.sleep(settle)
    rss = rss_mb(pid)
    for writer in keep:
        writer.close()
    counts: dict[str, int] = {}
    for r in results:
        counts[r] = counts.get(r, 0) + 1
    return rss, counts


def post(client: httpx.Client, path: str, body: dict, key: str) -> float:
    t = time.perf_counter()
    r = client.post(path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=600)
    r.raise_for_status()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout whose server runs")
    ap.add_argument("--model", type=Path, required=True, help="model folder")
    ap.add_argument("--uploads", type=int, default=60)
    ap.add_argument("--long", type=int, default=8000, help="characters of each long letter")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="xinfang-hostile-"))
    model = args.model.resolve()
    sys.path.insert(0, str(args.root))
    from xinfang.serving.keys import create_key

    key = create_key(tmp / "state" / "api_keys", "bench")
    port = free_port()
    env = {**os.environ, "XINFANG_STATE_DIR": str(tmp / "state"), "XINFANG_BODY_TIMEOUT_S": "2",
           "XINFANG_MAX_TEXT_CHARS": str(max(20000, args.long)), "PYTHONPATH": str(args.root)}
    server = subprocess.Popen(
        [sys.executable, "-c", "from xinfang.cli import app; app()", "serve", "--port", str(port),
         "--model", str(model), "--precision", "fp32", "--log-level", "warning"],
        cwd=args.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report: dict = {"root": str(args.root), "model": str(model)}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(600):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            report["rss_start_mb"] = round(rss_mb(server.pid), 1)
            rss, counts = asyncio.run(uploads(port, args.uploads, "", server.pid, 2))
            report["unauthenticated"] = {"rss_mb": round(rss, 1), "answers": counts}
            rss, counts = asyncio.run(uploads(port, args.uploads, f"Authorization: Bearer {key}\r\n", server.pid, 3))
            report["authenticated_stalled"] = {"rss_mb": round(rss, 1), "answers": counts}
            long_letters = [{"text": (LONG_UNIT * (args.long // len(LONG_UNIT) + 1))[:args.long]} for _ in range(4)]
            alone = min(post(client, "/v1/letters:score", {"text": SHORT}, key) for _ in range(3))
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as other:
                batch_s: list[float] = []
                t = threading.Thread(target=lambda: batch_s.append(
                    post(other, "/v1/letters:batch", {"letters": long_letters}, key)))
                t.start()
                time.sleep(0.05)
                behind = post(client, "/v1/letters:score", {"text": SHORT}, key)
                t.join()
            report["head_of_line"] = {"short_alone_s": round(alone, 3), "short_behind_batch_s": round(behind, 3),
                                      "batch_of_4_long_s": round(batch_s[0], 3), "long_chars": args.long}
            report["rss_end_mb"] = round(rss_mb(server.pid), 1)
    finally:
        server.terminate()
        server.wait(30)
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
