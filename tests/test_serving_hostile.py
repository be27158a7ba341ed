"""Hostile and faulty input to the API (issue 7): bad text, long letters, gone clients, keys before bodies, ids."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from xinfang.config import Settings
from xinfang.engine import Engine
from xinfang.serving.app import create_app
from xinfang.serving.keys import create_key

LETTER = "我实名举报某街道办副主任王某某，2019年3月在某小区工地收受工程老板红包5万元，有转账记录和照片为证。"
POISON = "毒"  # a letter containing it makes the stand-in engine raise, like the lone surrogate did


def make_settings(folder: Path, **overrides: object) -> Settings:
    base: dict = {"state_dir": folder, "models_dir": folder / "models", "max_body_bytes": 64 * 1024,
                  "max_batch_letters": 4, "max_text_chars": 2000, "microbatch_wait_ms": 1.0,
                  "max_tokens_per_request": 64, "batch_max_id_chars": 16}
    return Settings(**{**base, **overrides})


class HeldEngine:
    """The tiny engine behind a gate (so letters queue up), raising on any micro-batch with a poisoned letter."""

    def __init__(self, inner: Engine):
        self.inner, self.folder, self.model_ref = inner, inner.folder, inner.model_ref
        self.entered, self.release = threading.Event(), threading.Event()
        self.seen: list[list[str]] = []

    def score(self, letters):
        if letters[0].id != "warm-up":
            self.seen.append([x.id for x in letters])
            self.entered.set()
            assert self.release.wait(20)
        if any(POISON in x.text for x in letters):
            raise ValueError("the tokenizer choked")
        return self.inner.score(letters)


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return Engine(tiny_model_dir, precision="fp32")


@pytest.fixture(scope="module")
def api(tmp_path_factory, engine):
    settings = make_settings(tmp_path_factory.mktemp("hostile"))
    key = create_key(settings.api_keys_path, "tests")
    with TestClient(create_app(settings, engine=engine)) as client:
        yield SimpleNamespace(client=client, key=key, settings=settings, headers={"Authorization": f"Bearer {key}"})


def raw_post(api, body: bytes, headers: dict[str, str] | None = None):
    return api.client.post("/v1/letters:score", content=body,
                           headers={"Content-Type": "application/json", **(headers or api.headers)})


def wait_until(predicate, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


# ---- 1. one bad letter fails its neighbours ----------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b'{"text": "\\ud800"}',
    b'{"text": "\\u4e3e\\u62a5\\udfff\\u95ee\\u9898"}',
    b'{"text": "\\u4e3e\\u62a5", "submitter": "\\ud83d"}',
    b'{"text": "\\u4e3e\\u62a5", "metadata": {"channel": ["\\udc00"]}}',
])
def test_lone_surrogates_are_422_at_the_door(api, body):
    r = raw_post(api, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_encoding"


def test_a_surrogate_in_a_field_name_is_a_clean_422(api):
    r = raw_post(api, b'{"text": "\\u4e3e\\u62a5", "\\ud800": 1}')
    assert r.status_code == 422 and r.json()["error"]["code"] in {"invalid_request", "invalid_encoding"}


def test_a_failing_letter_does_not_fail_its_micro_batch_neighbours(tiny_model_dir, tmp_path):
    engine = HeldEngine(Engine(tiny_model_dir, precision="fp32"))
    settings = make_settings(tmp_path, auth_enabled=False, microbatch_wait_ms=0, microbatch_size=16)
    answers: dict[str, object] = {}
    with TestClient(create_app(settings, engine=engine)) as client:
        def post(letter_id: str, text: str) -> None:
            answers[letter_id] = client.post("/v1/letters:score", json={"id": letter_id, "text": text})

        threads = [threading.Thread(target=post, args=("hold", LETTER))]
        threads[0].start()
        assert engine.entered.wait(20)
        for letter_id, text in (("bad", POISON + LETTER), ("good", LETTER)):
            threads.append(threading.Thread(target=post, args=(letter_id, text)))
            threads[-1].start()
        batcher = client.app.state.xinfang.batcher
        wait_until(lambda: batcher.qsize() == 2)
        engine.release.set()
        for t in threads:
            t.join(20)
    assert {"bad", "good"} in [set(ids) for ids in engine.seen]  # they did share a micro-batch
    assert answers["hold"].status_code == 200 and answers["good"].status_code == 200, answers["good"].text
    assert answers["bad"].status_code == 500 and answers["bad"].json()["error"]["code"] == "scoring_failed"


# ---- 3. head-of-line blocking -----------------------------------------------------------------------------

def test_a_letter_over_the_limits_is_422_naming_them(api, monkeypatch):
    long = "举报" * 40  # 80 characters: more than max_tokens_per_request (64) allows
    r = api.client.post("/v1/letters:score", json={"text": long}, headers=api.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "text_too_long"
    assert "80 characters" in r.json()["error"]["message"] and "64" in r.json()["error"]["message"]
    r = api.client.post("/v1/letters:batch", json={"letters": [{"text": "短信"}, {"text": long}]}, headers=api.headers)
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("letters.1.text")
    assert api.client.post("/v1/letters:score", json={"text": "举报" * 30}, headers=api.headers).status_code == 200
    # a tokenizer whose normalisation expands a character into several tokens: the token count decides
    from tiny import build_char_tokenizer
    from tokenizers import normalizers

    from xinfang.text import LetterTokenizer

    expanding = build_char_tokenizer()
    expanding.normalizer = normalizers.Sequence([normalizers.NFKC(), expanding.normalizer])
    monkeypatch.setattr(api.client.app.state.xinfang, "tokenizer", LetterTokenizer(expanding))
    r = api.client.post("/v1/letters:score", json={"text": "\u337b" * 40}, headers=api.headers)  # ㍻ is 平成
    assert r.status_code == 422 and r.json()["error"]["code"] == "text_too_long"
    assert "80 tokens" in r.json()["error"]["message"] and "64" in r.json()["error"]["message"]


def test_queued_work_of_a_client_that_left_is_dropped(tiny_model_dir, tmp_path):
    engine = HeldEngine(Engine(tiny_model_dir, precision="fp32"))
    settings = make_settings(tmp_path, auth_enabled=False, microbatch_wait_ms=0, microbatch_size=1)
    app = create_app(settings, engine=engine)
    with TestClient(app) as client:
        holder = threading.Thread(target=client.post, args=("/v1/letters:score",),
                                  kwargs={"json": {"id": "hold", "text": LETTER}})
        holder.start()
        assert engine.entered.wait(20)
        batcher = app.state.xinfang.batcher
        sent: list[dict] = []

        async def gone_client() -> None:
            body = json.dumps({"id": "gone", "text": LETTER}).encode()
            messages = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive() -> dict:
                if messages:
                    return messages.pop(0)
                while batcher.qsize() < 1:  # the letter is queued behind the held one: now hang up
                    await asyncio.sleep(0.001)
                return {"type": "http.disconnect"}

            async def send(message: dict) -> None:
                sent.append(message)

            scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                     "scheme": "http", "path": "/v1/letters:score", "raw_path": b"/v1/letters:score",
                     "query_string": b"", "root_path": "", "server": ("test", 80), "client": ("test", 1),
                     "headers": [(b"content-type", b"application/json"), (b"host", b"test")]}
            await asyncio.wait_for(app(scope, receive, send), 20)

        client.portal.call(gone_client)
        assert batcher.qsize() == 0  # its place in the queue is free at once
        engine.release.set()
        holder.join(20)
        r = client.post("/v1/letters:score", json={"id": "after", "text": LETTER})
        assert r.status_code == 200
    assert [ids for ids in engine.seen] == [["hold"], ["after"]]  # "gone" was never scored


# ---- 4. memory before authentication ----------------------------------------------------------------------

def test_the_key_is_checked_before_any_body_byte_is_read(api):
    async def call(headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
        reads = 0

        async def receive() -> dict:
            nonlocal reads
            reads += 1
            await asyncio.sleep(3600)  # a stalled upload
            return {"type": "http.disconnect"}

        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/letters:score", "raw_path": b"/v1/letters:score",
                 "query_string": b"", "root_path": "", "server": ("test", 80), "client": ("test", 1),
                 "headers": [(b"content-type", b"application/json"), (b"content-length", b"4000000"), *headers]}
        await asyncio.wait_for(api.client.app(scope, receive, send), 20)
        return sent[0]["status"], reads

    assert api.client.portal.call(call, []) == (401, 0)
    assert api.client.portal.call(call, [(b"x-api-key", b"xf_wrong")]) == (403, 0)


def test_a_slow_body_times_out():
    from xinfang.serving.limits import BodyGuard

    async def app(scope, receive, send):  # pragma: no cover - never reached
        raise AssertionError("the app must not see a body that never arrived")

    async def run() -> int:
        first = True

        async def receive() -> dict:
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": b'{"text": "', "more_body": True}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v1/letters:score", "query_string": b"",
                 "headers": [(b"content-type", b"application/json")]}
        await asyncio.wait_for(BodyGuard(app, max_body_bytes=1024, body_timeout_s=0.05)(scope, receive, send), 20)
        return sent[0]["status"]

    assert asyncio.run(run()) == 408


# ---- 5. log forging ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("letter_id", "code"), [
    ("a\nINFO forged line", "invalid_id"),
    ("nul\x00byte", "invalid_id"),
    ("tab\there", "invalid_id"),
    ("line\u2028sep", "invalid_id"),
    ("x" * 17, "invalid_id"),  # batch_max_id_chars is 16 here
    ("   ", "missing_id"),
])
def test_ids_follow_the_batch_jobs_rules(api, letter_id, code):
    r = api.client.post("/v1/letters:score", json={"id": letter_id, "text": LETTER}, headers=api.headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    r = api.client.post("/v1/letters:batch", json={"letters": [{"id": "ok", "text": LETTER},
                                                               {"id": letter_id, "text": LETTER}]}, headers=api.headers)
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("letters.1.id")


def test_a_good_id_is_kept(api):
    r = api.client.post("/v1/letters:score", json={"id": "信-2024/7 #1", "text": LETTER}, headers=api.headers)
    assert r.status_code == 200 and r.json()["id"] == "信-2024/7 #1"


# ---- 6. contract gaps -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["\u200b\u200b", "\x00\x00\x00", "\ufeff \u200d\n\x00", "\u2060\u00ad"])
def test_invisible_only_text_is_empty(api, text):
    r = api.client.post("/v1/letters:score", json={"text": text}, headers=api.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "empty_text"


def test_text_with_a_nul_inside_is_still_scored(api):
    r = api.client.post("/v1/letters:score", json={"text": "举报\x00问题"}, headers=api.headers)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("method", "path"), [("PUT", "/v1/model"), ("POST", "/v1/model"),
                                              ("DELETE", "/v1/letters:score"), ("PUT", "/v1/letters:batch")])
def test_wrong_method_is_405_with_allow(api, method, path):
    r = api.client.request(method, path, headers=api.headers, content=b"x")
    assert r.status_code == 405, r.text
    assert r.json()["error"]["code"] == "method_not_allowed" and r.headers["Allow"]


def test_a_batch_larger_than_the_queue_is_refused_clearly(engine, tmp_path):
    settings = make_settings(tmp_path, auth_enabled=False, queue_size=2, max_batch_letters=4)
    with TestClient(create_app(settings, engine=engine)) as client:
        letters = [{"text": f"第{i}封信，反映低保问题。"} for i in range(3)]
        r = client.post("/v1/letters:batch", json={"letters": letters})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "batch_exceeds_queue" and "2" in r.json()["error"]["message"]
        assert client.post("/v1/letters:batch", json={"letters": letters[:2]}).status_code == 200
        spec = client.get("/openapi.json").json()
    assert spec["components"]["schemas"]["BatchRequest"]["properties"]["letters"]["maxItems"] == 2


def test_openapi_documents_what_the_api_does(api):
    spec = api.client.get("/openapi.json").json()
    for path in ("/v1/letters:score", "/v1/letters:batch"):
        assert {"400", "401", "403", "408", "413", "415", "422", "503"} <= set(spec["paths"][path]["post"]["responses"])
    props = spec["components"]["schemas"]["LetterRequest"]["properties"]
    assert props["text"]["minLength"] == 1 and props["text"]["maxLength"] == 64 and props["text"]["pattern"]  # tokens
    assert props["id"]["maxLength"] == 16 and props["id"]["pattern"]


def test_the_documented_patterns_agree_with_the_checks(api):
    import re

    from xinfang.batch.reader import Limits, _check_id
    from xinfang.serving.api_models import ID_PATTERN, TEXT_PATTERN

    for letter_id in ["a", "a b", " x ", "信-1", "a\nb", "\x00", "\x7f", "\x85", "\u2028", " ", "\u3000", "\t"]:
        assert bool(re.search(ID_PATTERN, letter_id)) == (_check_id(letter_id, Limits())[1] is None), repr(letter_id)
    for text in ["举", " a ", "\u200b", "\x00 ", "\u3000\n", "\ufeffx", "\u00ad"]:
        r = api.client.post("/v1/letters:score", json={"text": text}, headers=api.headers)
        assert bool(re.search(TEXT_PATTERN, text)) == (r.status_code == 200), (repr(text), r.text)
