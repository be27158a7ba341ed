"""Request ids (X-Request-ID in and out, in every log line of the request) and JSON logs without letter text."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from test_serving_api import LETTER, auth, make_settings

from xinfang.engine import Engine
from xinfang.pii import RedactingFilter
from xinfang.serving.app import create_app
from xinfang.serving.keys import create_key
from xinfang.serving.logs import RequestIdFilter, make_formatter
from xinfang.serving.request_ids import HEADER, accept_request_id

PHONE = "13912345678"
SECRET = "这句私密正文不许进日志"


@pytest.fixture(scope="module")
def api(tmp_path_factory, tiny_model_dir):
    settings = make_settings(tmp_path_factory.mktemp("logs"))
    key = create_key(settings.api_keys_path, "tests")
    with TestClient(create_app(settings, engine=Engine(tiny_model_dir, precision="int8"))) as client:
        yield SimpleNamespace(client=client, headers=auth(key))


@pytest.fixture()
def json_lines() -> Iterator[io.StringIO]:
    """What the root logger writes through a handler set up as `xinfang serve`'s (setup_logging)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter("json"))
    handler.addFilter(RedactingFilter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize("given", ["abc-123", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "lb.trace:77_x"])
def test_a_sane_request_id_is_kept(api, given):
    r = api.client.get("/healthz", headers={HEADER: given})
    assert r.headers[HEADER] == given


@pytest.mark.parametrize("given", ["two words", "x" * 65, 'a"b', "-leading-dash", "", "a\tb"])
def test_other_request_ids_are_replaced(api, given):
    r = api.client.get("/healthz", headers={HEADER: given})
    assert r.headers[HEADER] != given and len(r.headers[HEADER]) == 32
    int(r.headers[HEADER], 16)  # a fresh uuid4, hex


def test_every_response_has_a_fresh_id(api):
    ids = {api.client.get("/healthz").headers[HEADER] for _ in range(3)}
    refused = api.client.post("/v1/letters:score", json={"text": LETTER})  # refused by KeyGate, before routing
    assert len(ids) == 3 and refused.status_code == 401 and len(refused.headers[HEADER]) == 32
    assert accept_request_id("中文") != "中文"


def test_json_logs_carry_the_request_id_and_no_letter_text(api, json_lines):
    letter = f"{LETTER}联系电话{PHONE}。{SECRET}"
    r = api.client.post("/v1/letters:score", json={"id": "json-1", "text": letter, "submitter": "U-77"},
                        headers={**api.headers, HEADER: "req-json-1"})
    assert r.status_code == 200 and r.headers[HEADER] == "req-json-1"
    lines = records(json_lines)
    mine = [x for x in lines if x.get("request_id") == "req-json-1"]
    assert any("json-1" in x["message"] and x["logger"] == "xinfang.serving.routes" for x in mine), lines
    assert all({"time", "level", "logger", "message", "request_id"} <= set(x) for x in lines)
    assert all(datetime.fromisoformat(x["time"]).utcoffset() == timedelta(0) for x in lines)  # ISO 8601, UTC
    text = json.dumps(lines, ensure_ascii=False)  # as read: the JSON escapes non-ASCII
    assert PHONE not in text and SECRET[:4] not in text and "王某某" not in text and "U-77" not in text


def test_json_formatter_redacts_extras_and_tracebacks():
    """Even on a handler without RedactingFilter: message, extra fields and the traceback."""
    try:
        raise ValueError(f"bad letter {SECRET} {PHONE}")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.getLogger("xinfang.serving.x").makeRecord(
        "xinfang.serving.x", logging.ERROR, __file__, 1, "scoring failed: %s", (SECRET,), exc_info,
        extra={"text": SECRET, "note": f"call {PHONE}", "n": 3, "ok": True, "spans": [SECRET]})
    rec = json.loads(make_formatter("json").format(record))
    line = json.dumps(rec, ensure_ascii=False)  # as read: the JSON escapes non-ASCII
    assert rec["message"].startswith("scoring failed: ") and rec["level"] == "ERROR" and rec["n"] == 3
    assert rec["ok"] is True and rec["text"].startswith(f"<{len(SECRET)} chars sha256:")  # a fingerprint
    assert "ValueError" in rec["exc_info"] and "color_message" not in rec
    assert SECRET[:4] not in line and PHONE not in line and "〔正文11字〕" in line


def test_text_logs_show_the_request_id():
    record = logging.LogRecord("xinfang.serving.x", logging.INFO, __file__, 1, "scored n=%d", (2,), None)
    record.request_id = "req-7"
    assert "[req-7]: scored n=2" in make_formatter("text").format(record)


def test_an_unexpected_error_keeps_its_request_id(api, json_lines, monkeypatch):
    """Starlette answers a 500 outside every middleware: the id still reaches the response and the log."""
    monkeypatch.setattr(api.client.app.state.xinfang.store, "ping", lambda: 1 / 0)
    client = TestClient(api.client.app, raise_server_exceptions=False)  # the same running app
    r = client.get("/readyz", headers={HEADER: "req-boom-1"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert r.headers[HEADER] == "req-boom-1"
    assert any(x["request_id"] == "req-boom-1" and "ZeroDivisionError" in x["message"] for x in records(json_lines))
    metrics = client.get("/metrics", headers=api.headers).text
    assert 'xinfang_http_requests_total{endpoint="/readyz",method="GET",status="500"} 1.0' in metrics
