"""Test helpers for a real browser: serve an app with uvicorn on a free local port in a thread, and log
in to its review page with a key (Playwright on Debian's chromium)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """The app served at the yielded base URL until the block ends."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(1200):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.1)
    assert server.started, "the test server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def log_in(page: Any, base: str, key: str, path: str = "/review/") -> None:
    """Open `path` of the review page, which asks for a key first, and log in."""
    page.goto(base + path)
    assert "/review/login" in page.url
    page.fill("#key", key)
    with page.expect_navigation():
        page.click("#login")
