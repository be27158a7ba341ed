"""GET /metrics: requests by endpoint and status, latency, queue, micro-batches, decisions by class id, model."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from test_serving_api import CAMPAIGN, LETTER, auth, make_settings
from test_serving_hostile import HeldEngine, wait_until

from xinfang.engine import Engine
from xinfang.schema import HeadKind
from xinfang.serving.app import create_app
from xinfang.serving.keys import create_key
from xinfang.serving.metrics import NONE, UNMATCHED, Metrics


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return Engine(tiny_model_dir, precision="int8")


@pytest.fixture(scope="module")
def api(tmp_path_factory, engine):
    settings = make_settings(tmp_path_factory.mktemp("metrics"))
    key = create_key(settings.api_keys_path, "tests")
    with TestClient(create_app(settings, engine=engine)) as client:
        yield SimpleNamespace(client=client, headers=auth(key), settings=settings)


def samples(api) -> dict[tuple[str, frozenset], float]:
    r = api.client.get("/metrics", headers=api.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(table: dict, metric: str, /, **labels: str) -> float:
    return table.get((metric, frozenset(labels.items())), 0.0)


def test_requests_are_counted_by_endpoint_and_status(api):
    before = samples(api)
    ok = api.client.post("/v1/letters:score", json={"id": "m-1", "text": LETTER}, headers=api.headers)
    empty = api.client.post("/v1/letters:score", json={"id": "m-2", "text": "   "}, headers=api.headers)
    keyless = api.client.post("/v1/letters:score", json={"id": "m-3", "text": LETTER})
    probe = api.client.get("/wp-login.php?x=1")
    odd = api.client.request("XYZZY", "/healthz")
    assert (ok.status_code, empty.status_code, keyless.status_code, probe.status_code) == (200, 422, 401, 404)
    after = samples(api)
    score = {"endpoint": "/v1/letters:score", "method": "POST"}
    for status in ("200", "422", "401"):
        assert value(after, "xinfang_http_requests_total", **score, status=status) \
            - value(before, "xinfang_http_requests_total", **score, status=status) == 1, status
    assert value(after, "xinfang_http_requests_total", endpoint=UNMATCHED, method="GET", status="404") \
        - value(before, "xinfang_http_requests_total", endpoint=UNMATCHED, method="GET", status="404") == 1
    assert value(after, "xinfang_http_request_duration_seconds_count", endpoint="/v1/letters:score") \
        - value(before, "xinfang_http_request_duration_seconds_count", endpoint="/v1/letters:score") == 3
    assert value(after, "xinfang_http_request_duration_seconds_sum", endpoint="/v1/letters:score") \
        > value(before, "xinfang_http_request_duration_seconds_sum", endpoint="/v1/letters:score")
    assert not any("wp-login" in str(labels) for _, labels in after)  # a path no route serves adds no label
    assert odd.status_code == 405 and not any("XYZZY" in str(labels) for _, labels in after)  # nor a made-up method
    assert value(after, "xinfang_http_requests_total", endpoint="/healthz", method="other", status="405") \
        - value(before, "xinfang_http_requests_total", endpoint="/healthz", method="other", status="405") == 1


def test_decisions_are_counted_by_class_id(api, engine):
    before = samples(api)
    letters = [{"id": f"d-{i}", "text": t} for i, t in enumerate([LETTER, CAMPAIGN, LETTER + "另外还有一件事。"])]
    r = api.client.post("/v1/letters:batch", json={"letters": letters}, headers=api.headers)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    after = samples(api)
    expected: dict[tuple[str, str], int] = {}
    for result in results:
        for head in engine.schema.heads:
            answer = result[head.name]
            chosen = ([answer["label"]] if head.kind is HeadKind.single_label else
                      head.class_ids if head.kind is HeadKind.binary and answer["flag"] else
                      [] if head.kind is HeadKind.binary else answer["labels"])
            for decision in chosen or [NONE]:
                expected[head.name, decision] = expected.get((head.name, decision), 0) + 1
    for (head, decision), n in expected.items():
        got = value(after, "xinfang_letters_scored_total", head=head, decision=decision) \
            - value(before, "xinfang_letters_scored_total", head=head, decision=decision)
        assert got == n, (head, decision)
    for name, labels in after:  # label values are class ids (or 'none'), never text
        if name == "xinfang_letters_scored_total":
            d = dict(labels)
            assert d["decision"] in [*engine.schema.head(d["head"]).class_ids, NONE]
    for decision in ("auto", "human"):
        n = sum(x["route"]["decision"] == decision for x in results)
        assert value(after, "xinfang_letters_routed_total", decision=decision) \
            - value(before, "xinfang_letters_routed_total", decision=decision) == n
    assert value(after, "xinfang_microbatch_letters_sum") - value(before, "xinfang_microbatch_letters_sum") == 3
    assert 1 <= value(after, "xinfang_microbatch_letters_count") - value(before, "xinfang_microbatch_letters_count") <= 3


def test_queue_and_model_are_shown(api):
    after = samples(api)
    assert value(after, "xinfang_queue_depth") == 0  # idle
    assert value(after, "xinfang_queue_capacity") == api.settings.queue_size
    assert value(after, "xinfang_model_info", name="tiny", version="v0", precision="int8",
                 provider="CPUExecutionProvider") == 1


def test_queue_depth_follows_the_batcher(engine):
    waiting = [5]
    batcher = SimpleNamespace(qsize=lambda: waiting[0], queue_size=8, process=lambda batch: [])
    metrics = Metrics()
    metrics.bind(SimpleNamespace(engine=engine, model_ref=engine.model_ref, batcher=batcher, folder=engine.folder))
    assert metrics.registry.get_sample_value("xinfang_queue_depth") == 5
    waiting[0] = 2
    assert metrics.registry.get_sample_value("xinfang_queue_depth") == 2
    assert batcher.process([]) == []  # wrapped, still the scorer
    assert metrics.registry.get_sample_value("xinfang_microbatch_letters_count") == 1


def test_metrics_need_a_key_unless_configured(api, tmp_path, engine):
    assert api.client.get("/metrics").status_code == 401
    assert api.client.get("/metrics", headers=auth("not-a-key")).status_code == 403
    settings = make_settings(tmp_path, metrics_require_key=False)
    create_key(settings.api_keys_path, "tests")
    with TestClient(create_app(settings, engine=engine)) as client:
        r = client.get("/metrics")
        assert r.status_code == 200 and "xinfang_http_requests_total" in r.text
        assert client.post("/v1/letters:score", json={"text": LETTER}).status_code == 401  # /v1 still needs one


def test_endpoints_are_route_templates_through_included_routers():
    from fastapi import APIRouter, FastAPI

    from xinfang.serving.metrics import endpoint_of, route_templates

    app, inner = FastAPI(), APIRouter(prefix="/v1")
    inner.get("/letters/{letter_id:path}")(lambda letter_id: letter_id)
    app.include_router(inner, prefix="/api")
    table = list(route_templates(app.routes))
    scope = {"type": "http", "path": "/api/v1/letters/a/b%20c", "root_path": ""}
    assert endpoint_of(table, scope) == "/api/v1/letters/{letter_id:path}"
    assert endpoint_of(table, {**scope, "path": "/v1/letters/x"}) == UNMATCHED


def test_queue_depth_counts_letters_waiting_behind_a_busy_scorer(tiny_model_dir, tmp_path):
    engine = HeldEngine(Engine(tiny_model_dir, precision="int8"))
    settings = make_settings(tmp_path, auth_enabled=False, microbatch_wait_ms=0)
    answers: list[int] = []
    with TestClient(create_app(settings, engine=engine)) as client:
        def post(letter_id: str) -> None:
            answers.append(client.post("/v1/letters:score", json={"id": letter_id, "text": LETTER}).status_code)

        def depth() -> float | None:
            return value(samples(SimpleNamespace(client=client, headers={})), "xinfang_queue_depth")

        threads = [threading.Thread(target=post, args=(f"q-{i}",)) for i in range(3)]
        threads[0].start()
        assert engine.entered.wait(20)  # the first letter holds the scorer
        for t in threads[1:]:
            t.start()
        wait_until(lambda: client.app.state.xinfang.batcher.qsize() == 2)
        assert depth() == 2
        engine.release.set()
        for t in threads:
            t.join(20)
        assert answers == [200, 200, 200] and depth() == 0
