"""GET /v1/letters/{id} (the latest stored result, URL-encoded ids, the key that sent it), rate limits per API
key shared by every worker (429 with Retry-After, counted in the database), and 503 store_unavailable while
PostgreSQL is away with recovery by itself: on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from pg_cluster import BACKENDS, backend_url

from xinfang.config import Settings
from xinfang.engine import Engine
from xinfang.serving.app import create_app
from xinfang.serving.keys import create_key
from xinfang.serving.rate_limits import RateLimiter
from xinfang.serving.store import ResultsStore

LETTER = "我实名举报某街道办副主任，2019年3月在某小区工地收受工程老板红包5万元，有转账记录和照片为证。"
NOW = 1_000_000.0  # a fixed clock for the limiter: 40 s into a 60 s window


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> Engine:
    return Engine(tiny_model_dir, precision="fp32")


def make_settings(folder: Path, store_url: str | None, **kw: Any) -> Settings:
    return Settings(state_dir=folder, models_dir=folder / "models", store_url=store_url, microbatch_wait_ms=1.0,
                    **kw)


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, engine: Engine
        ) -> Iterator[SimpleNamespace]:
    settings = make_settings(tmp_path_factory.mktemp("lookup"), backend_url(request, request.param))
    keys = {label: create_key(settings.api_keys_path, label) for label in ("desk-1", "desk-2", "desk-3")}
    with TestClient(create_app(settings, engine=engine)) as client:
        yield SimpleNamespace(client=client, settings=settings, keys=keys)


def auth(api: SimpleNamespace, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.keys[label]}"}


def without_span_texts(result: dict[str, Any]) -> dict[str, Any]:
    """A result as the store keeps it without store_text: spans keep type and offsets, not the quote."""
    return {k: ({**v, **{f: [{x: y for x, y in s.items() if x != "text"} for s in v[f]]
                         for f in ("signals", "indicators") if f in v}} if isinstance(v, dict) else v)
            for k, v in result.items()}


def test_latest_result_of_a_url_encoded_id_with_its_key(api: SimpleNamespace):
    letter_id = "案/2026 #7?a=1&b=%中"
    bodies = []
    for label in ("desk-1", "desk-2"):  # the same id twice, from two keys: the second is the latest
        r = api.client.post("/v1/letters:score", json={"id": letter_id, "text": LETTER + label},
                            headers=auth(api, label))
        assert r.status_code == 200, r.text
        bodies.append(r.json())
    r = api.client.get(f"/v1/letters/{quote(letter_id, safe='')}", headers=auth(api, "desk-3"))
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["id"] == letter_id and got["api_key_label"] == "desk-2"
    assert got["result"] == without_span_texts(bodies[1])
    store = ResultsStore(api.settings.results_store_url)
    try:
        assert [x.api_key_label for x in store.rows(letter_id)] == ["desk-1", "desk-2"]
    finally:
        store.close()


@pytest.mark.parametrize("path", ["never-sent", "bad%00id", "x" * 129, "%ED%A0%80"])
def test_unknown_or_unstorable_ids_are_404(api: SimpleNamespace, path: str):
    """Ids the service would refuse to store (control characters, too long, not UTF-8) have no result either."""
    r = api.client.get(f"/v1/letters/{path}", headers=auth(api, "desk-3"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "letter_not_found", r.text


def test_rate_limit_per_key_is_shared_by_workers(api: SimpleNamespace, engine: Engine):
    """Three requests per key per window: the fourth is 429 with Retry-After until the window ends, on this
    worker and on a second one sharing the database; other keys and the probes are not limited."""
    settings = api.settings.with_overrides(rate_limit_requests=3)
    with TestClient(create_app(settings, engine=engine)) as first, TestClient(create_app(settings, engine=engine)
                                                                               ) as second:
        workers = [first, second]
        for client in workers:
            client.app.state.xinfang.rate_limiter.clock = lambda: NOW
        label = "desk-1"
        for i in range(3):
            assert workers[i % 2].get("/v1/model", headers=auth(api, label)).status_code == 200
        for client in workers:
            r = client.get("/v1/model", headers=auth(api, label))
            assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited", r.text
            assert r.headers["Retry-After"] == "20"
            assert client.get("/healthz").status_code == 200
        assert second.get("/v1/model", headers=auth(api, "desk-2")).status_code == 200
        second.app.state.xinfang.rate_limiter.clock = lambda: NOW + 20  # the next window
        assert second.get("/v1/model", headers=auth(api, label)).status_code == 200


def test_limiter_windows_and_old_counters(api: SimpleNamespace):
    """Counting is per key and window; a key's older windows are deleted when a new one opens."""
    store = ResultsStore(api.settings.results_store_url)
    try:
        now = [NOW]
        limiter = RateLimiter(store.engine, limit=2, window_s=60, clock=lambda: now[0])
        assert [limiter.hit("w").allowed for _ in range(3)] == [True, True, False]
        assert limiter.hit("w").retry_after_s == 20 and limiter.hit("v").allowed
        now[0] += 60
        verdict = limiter.hit("w")
        assert verdict.allowed and verdict.requests == 1
        with store.engine.connect() as conn:
            windows = conn.exec_driver_sql(
                "SELECT key_label, window_start FROM api_rate_limits WHERE key_label IN ('v', 'w')").all()
        assert sorted(windows) == [("v", 999960), ("w", 1000020)]
    finally:
        store.close()


def test_postgres_away_is_503_then_recovers_by_itself(postgres_cluster, tmp_path: Path, engine: Engine):
    """Stopping the server: letters and lookups get 503 store_unavailable with Retry-After, readiness fails;
    starting it again: the same app answers 200 without a restart, and every 200-answered letter is stored."""
    settings = make_settings(tmp_path, postgres_cluster.new_database(), auth_enabled=False)
    with TestClient(create_app(settings, engine=engine)) as client:
        assert client.post("/v1/letters:score", json={"id": "before", "text": LETTER}).status_code == 200
        postgres_cluster.stop()
        try:
            for r in (client.post("/v1/letters:score", json={"id": "during", "text": LETTER}),
                      client.get("/v1/letters/before")):
                assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable", r.text
                assert int(r.headers["Retry-After"]) > 0
            assert client.get("/readyz").status_code == 503
        finally:
            postgres_cluster.start()
        assert client.get("/readyz").status_code == 200
        assert client.post("/v1/letters:score", json={"id": "after", "text": LETTER}).status_code == 200
        assert client.get("/v1/letters/before").json()["api_key_label"] == "anonymous"
    store = ResultsStore(settings.results_store_url)
    try:
        assert [x.letter_id for x in store.rows()] == ["before", "after"]
    finally:
        store.close()
