"""The scoring API against the tiny model: result shape, auth, errors, store rows, duplicates, readiness."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from pg_cluster import BACKENDS, backend_url

from xinfang.config import Settings
from xinfang.engine import Engine, LetterIn
from xinfang.result import result_json_schema
from xinfang.serving.app import create_app
from xinfang.serving.keys import create_key
from xinfang.serving.store import ResultsStore
from xinfang.submitters import SubmitterKeyer

LETTER = ("我实名举报某街道办副主任王某某，2019年3月在某小区工地收受工程老板红包5万元，有转账记录和照片为证。"
          "他还违规给亲属办理低保，克扣困难群众的补贴，请纪委领导调查核实。")
CAMPAIGN = ("尊敬的领导：我要反映某县交通局科长张某某的问题。2018年5月，他在工程招标中让亲戚的公司中标并收取回扣，"
            "涉及金额约30万元，我有转账记录和照片，可以提供。2019年7月，他用公款在酒店大吃大喝，涉及金额约2万元，"
            "此事单位里很多人都知道，但没人敢说。2020年3月，他收受包工头送的购物卡和烟酒，涉及金额约5万元，"
            "多次反映没有结果，恳请重视。2021年9月，他长期不上班却照领工资，希望纪委尽快查处。")


def make_settings(folder: Path, **overrides: object) -> Settings:
    base: dict = {"state_dir": folder, "models_dir": folder / "models", "max_body_bytes": 64 * 1024,
                  "max_batch_letters": 4, "max_text_chars": 2000, "microbatch_wait_ms": 1.0}
    return Settings(**{**base, **overrides})


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return Engine(tiny_model_dir, precision="int8")


@pytest.fixture(scope="module", params=BACKENDS)
def api(request, tmp_path_factory, engine):
    settings = make_settings(tmp_path_factory.mktemp("api"), store_url=backend_url(request, request.param))
    key = create_key(settings.api_keys_path, "tests")
    with TestClient(create_app(settings, engine=engine)) as client:
        yield SimpleNamespace(client=client, key=key, settings=settings, headers=auth(key))


@pytest.fixture(scope="module", params=BACKENDS)
def open_api(request, tmp_path_factory, engine):
    """Authentication off, letter texts stored."""
    settings = make_settings(tmp_path_factory.mktemp("open-api"), auth_enabled=False, store_text=True,
                             store_url=backend_url(request, request.param))
    with TestClient(create_app(settings, engine=engine)) as client:
        yield SimpleNamespace(client=client, settings=settings)


def rows(settings, letter_id):
    store = ResultsStore(settings.results_store_url)
    try:
        return store.rows(letter_id)
    finally:
        store.close()


# ---- results ------------------------------------------------------------------------------------------

def test_score_result_shape(api, engine):
    r = api.client.post("/v1/letters:score", json={"id": "shape-1", "text": LETTER}, headers=api.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    direct = engine.score([LetterIn("shape-1", LETTER)])[0]
    assert body == direct.to_json()  # the API answers the engine's typed result, as its JSON
    assert body["id"] == "shape-1"
    assert body["model"] == {"name": "tiny", "version": "v0", "precision": "int8"}
    assert list(body["topic"]["scores"]) == engine.schema.head("topic").class_ids
    assert body["sector"]["label"] in engine.schema.head("sector").class_ids
    assert 0 <= body["credibility"]["score"] <= 1 and body["credibility"]["signals"]
    for s in body["credibility"]["signals"]:
        assert LETTER[s["start"]:s["end"]] == s["text"]
    assert 0 <= body["malicious"]["probability"] <= 1 and 0 <= body["abusive"]["probability"] <= 1
    assert body["route"]["decision"] in {"auto", "human"}
    assert body["duplicates"] == []


def test_batch_keeps_order_and_gives_ids(api):
    letters = [{"id": "b-1", "text": LETTER}, {"text": "公交线路太少，希望增加班次。"}, {"id": "b-3", "text": "短"}]
    r = api.client.post("/v1/letters:batch", json={"letters": letters}, headers=api.headers)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["id"] for x in results][::2] == ["b-1", "b-3"]
    assert len(results[1]["id"]) == 32  # generated


def test_model_info(api):
    r = api.client.get("/v1/model", headers=api.headers)
    assert r.status_code == 200, r.text
    info = r.json()
    assert (info["name"], info["version"], info["precision"]) == ("tiny", "v0", "int8")
    heads = {h["name"]: h for h in info["schema"]["heads"]}
    assert {"topic", "sector", "credibility", "malicious", "abusive"} <= set(heads)
    assert heads["topic"]["route_threshold"] == 0.5 and heads["sector"]["kind"] == "single_label"
    assert "base" in info["card"]


def test_openapi_describes_the_api(api, engine):
    spec = api.client.get("/openapi.json").json()
    assert {"/v1/letters:score", "/v1/letters:batch", "/v1/model", "/healthz", "/readyz"} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"]
    ok = spec["paths"]["/v1/letters:score"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/LetterResult"}
    # the published result schema (xinfang.result, docs/result.schema.json) is the one the API answers with,
    # the served model's heads named
    published = result_json_schema(engine.schema)
    assert schemas["LetterResult"]["required"] == published["required"]
    assert schemas["LetterResult"]["properties"]["credibility"]["$ref"] == "#/components/schemas/CredibilityAnswer"
    assert schemas["LetterResult"]["additionalProperties"]["oneOf"] == [
        {"$ref": x["$ref"].replace("#/$defs/", "#/components/schemas/")}
        for x in published["additionalProperties"]["oneOf"]]
    for name in ("CredibilityAnswer", "MaliciousAnswer", "NearDuplicateIndicator", "Route"):
        assert schemas[name]["required"] == published["$defs"][name]["required"]


# ---- auth ---------------------------------------------------------------------------------------------

def test_missing_key_is_401(api):
    r = api.client.post("/v1/letters:score", json={"text": LETTER})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "missing_api_key" and r.headers["WWW-Authenticate"] == "Bearer"


def test_wrong_key_is_403(api):
    for headers in (auth("xf_wrong"), {"X-API-Key": "xf_wrong"}):
        r = api.client.post("/v1/letters:score", json={"text": LETTER}, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "invalid_api_key"


def test_x_api_key_header_and_open_probes(api):
    assert api.client.get("/v1/model", headers={"X-API-Key": api.key}).status_code == 200
    assert api.client.get("/healthz").json() == {"status": "ok"}


def test_auth_off(open_api):
    r = open_api.client.post("/v1/letters:score", json={"id": "open-1", "text": LETTER})
    assert r.status_code == 200, r.text


# ---- errors -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "code"), [
    ({"text": ""}, "empty_text"),
    ({"text": " \n\t\u3000"}, "empty_text"),
    ({"id": "x"}, "invalid_request"),
    ({"text": LETTER, "colour": "red"}, "invalid_request"),
    ({"text": "长" * 2001}, "text_too_long"),
])
def test_bad_letters_are_422(api, body, code):
    r = api.client.post("/v1/letters:score", json=body, headers=api.headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]


def test_invalid_json_is_422(api):
    r = api.client.post("/v1/letters:score", content=b'{"text": ', headers={**api.headers,
                                                                           "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_json"


def test_batch_limits(api):
    too_many = {"letters": [{"text": f"第{i}封信，反映低保问题。"} for i in range(5)]}
    r = api.client.post("/v1/letters:batch", json=too_many, headers=api.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_letters"
    r = api.client.post("/v1/letters:batch", json={"letters": []}, headers=api.headers)
    assert r.status_code == 422
    twice = {"letters": [{"id": "same", "text": LETTER}, {"id": "same", "text": LETTER}]}
    r = api.client.post("/v1/letters:batch", json=twice, headers=api.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "duplicate_ids"
    r = api.client.post("/v1/letters:batch", json={"letters": [{"text": "好"}, {"text": ""}]}, headers=api.headers)
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("letters.1.text")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(api, content_type):
    headers = dict(api.headers)
    if content_type:
        headers["Content-Type"] = content_type
    r = api.client.post("/v1/letters:score", content='{"text": "举报"}'.encode(), headers=headers)
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"


def test_body_too_large_is_413(api):
    big = ('{"text": "' + "举" * 30000 + '"}').encode()  # 90 kB > 64 kB
    r = api.client.post("/v1/letters:score", content=big, headers={**api.headers, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

    def chunks():  # no Content-Length: only the bytes received can tell
        for i in range(0, len(big), 8192):
            yield big[i:i + 8192]

    r = api.client.post("/v1/letters:score", content=chunks(),
                        headers={**api.headers, "Content-Type": "application/json"})
    assert r.status_code == 413


# ---- store and duplicates -----------------------------------------------------------------------------

def test_store_rows_without_text(api):
    r = api.client.post("/v1/letters:score", json={"id": "store-1", "text": LETTER, "submitter": "U-77",
                                                   "metadata": {"channel": "web"}}, headers=api.headers)
    assert r.status_code == 200
    (row,) = rows(api.settings, "store-1")
    assert row.text is None and row.meta is None
    assert (row.model_name, row.model_version, row.precision) == ("tiny", "v0", "int8")
    assert row.route == r.json()["route"]["decision"] and row.scored_at is not None
    assert len(row.signature) == 128 * 4
    assert row.submitter_hash == SubmitterKeyer.from_settings(api.settings)("U-77")  # keyed, not SHA-256
    assert row.submitter_hash != hashlib.sha256(b"U-77").hexdigest()
    assert row.scores["sector"] == r.json()["sector"]
    spans = row.scores["credibility"]["signals"]
    assert spans and all("text" not in s and s["end"] > s["start"] for s in spans)
    assert "王某某" not in str(row.scores)


def test_store_rows_with_text(open_api):
    r = open_api.client.post("/v1/letters:score", json={"id": "store-2", "text": LETTER,
                                                        "metadata": {"channel": "mail"}})
    assert r.status_code == 200
    (row,) = rows(open_api.settings, "store-2")
    assert row.text == LETTER and row.meta == {"channel": "mail"}


def test_near_copy_is_reported_as_duplicate(api, engine):
    first = api.client.post("/v1/letters:score", json={"id": "camp-1", "text": CAMPAIGN}, headers=api.headers)
    assert first.json()["duplicates"] == []
    copy = CAMPAIGN.replace("恳请重视", "请求重视").replace("2万元", "3万元")
    r = api.client.post("/v1/letters:score", json={"id": "camp-2", "text": copy}, headers=api.headers)
    dups = r.json()["duplicates"]
    assert [d["id"] for d in dups] == ["camp-1"] and dups[0]["similarity"] >= 0.8
    # within one batch, and after a restart (the index is rebuilt from the store)
    batch = {"letters": [{"id": "camp-3", "text": copy + "。"}, {"id": "camp-4", "text": "无关的一封信，反映噪音扰民。"}]}
    r = api.client.post("/v1/letters:batch", json=batch, headers=api.headers)
    assert {d["id"] for d in r.json()["results"][0]["duplicates"]} == {"camp-1", "camp-2"}
    assert r.json()["results"][1]["duplicates"] == []
    with TestClient(create_app(api.settings, engine=engine)) as again:
        r = again.post("/v1/letters:score", json={"id": "camp-5", "text": CAMPAIGN}, headers=api.headers)
        assert {d["id"] for d in r.json()["duplicates"]} == {"camp-1", "camp-2", "camp-3"}


# ---- operations and logs ------------------------------------------------------------------------------

def test_readyz(api, monkeypatch):
    r = api.client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready", r.text
    assert r.json()["checks"] == {"model": True, "store": True, "scorer": True}
    state = api.client.app.state.xinfang
    monkeypatch.setattr(state.store, "ping", lambda: False)
    r = api.client.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["store"] is False


def test_logs_carry_ids_not_text(api, caplog):
    marker = "这封信的正文绝对不能出现在日志里面"
    with caplog.at_level(logging.DEBUG):
        r = api.client.post("/v1/letters:score", json={"id": "log-1", "text": LETTER + marker, "submitter": "U-9"},
                            headers=api.headers)
        assert r.status_code == 200
    assert "log-1" in caplog.text and "engine_ms" in caplog.text
    assert marker[:6] not in caplog.text and "王某某" not in caplog.text and "U-9" not in caplog.text


def test_body_guard_counts_bytes_not_the_declared_length():
    import asyncio

    from xinfang.serving.limits import BodyGuard

    reached: list[bytes] = []

    async def app(scope, receive, send):
        reached.append((await receive())["body"])

    async def run(declared: str, parts: list[bytes]) -> int:
        messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
        sent: list[dict] = []

        async def receive():
            return messages.pop(0)

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v1/letters:score", "query_string": b"",
                 "headers": [(b"content-type", b"application/json"), (b"content-length", declared.encode())]}
        await BodyGuard(app, max_body_bytes=1024)(scope, receive, send)
        return sent[0]["status"] if sent else 200

    assert asyncio.run(run("10", [b"x" * 600, b"x" * 600])) == 413  # lies about its length
    assert asyncio.run(run("5000", [b"x"])) == 413
    assert asyncio.run(run("1200", [b"x" * 600, b"x" * 600])) == 413
    assert asyncio.run(run("1000", [b"x" * 500, b"x" * 500])) == 200 and reached == [b"x" * 1000]
