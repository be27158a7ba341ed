"""The review page (/review): roles on keys, login sessions with CSRF, queues, masking, corrections and
their audit trail, `xinfang review load` and `xinfang review corrections` (read back as training data)."""

from __future__ import annotations

import json
import logging
import re
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from pg_cluster import BACKENDS, backend_url
from test_serving_api import LETTER, auth, make_settings

from xinfang.engine import Engine
from xinfang.labels import read_labelled
from xinfang.schema import load_schema
from xinfang.serving.app import create_app
from xinfang.serving.keys import Role, create_key, hash_key
from xinfang.serving.review.files import export_corrections, load_batch
from xinfang.serving.review.session import review_store
from xinfang.serving.review.store import Change
from xinfang.sources import review_files

PHONE = "13912345678"
LETTERS = [
    {"id": "r-1", "text": f"我叫王某某，电话{PHONE}。{LETTER}", "submitter": "s-1"},
    {"id": "r-2", "text": "小区门口的路灯坏了三个月，晚上出行很不方便，希望有关部门尽快维修。", "submitter": "s-1"},
    {"id": "r-3", "text": LETTER.replace("5万元", "8万元"), "submitter": "s-2"},
]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(client: TestClient, key: str) -> None:
    page = client.get("/review/login")
    r = client.post("/review/login", data={"csrf": csrf_of(page.text), "key": key, "next": "/review/queues/human"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


@pytest.fixture(scope="module")
def page(tmp_path_factory, tiny_model_dir):
    settings = make_settings(tmp_path_factory.mktemp("review"), store_text=True)
    keys = {role: create_key(settings.api_keys_path, f"{role.value}-1", role) for role in Role}
    with settings.api_keys_path.open("a", encoding="utf-8") as fh:  # a line of the old form: no role
        fh.write(f"{hash_key('xf_old-key')} old-clerk\n")
    with TestClient(create_app(settings, engine=Engine(tiny_model_dir, precision="int8"))) as client:
        r = client.post("/v1/letters:batch", json={"letters": LETTERS}, headers=auth(keys[Role.intake]))
        assert r.status_code == 200, r.text
        yield SimpleNamespace(client=client, keys=keys, settings=settings,
                              store=review_store(client.app.state.xinfang))


def test_roles_on_keys(page):
    client, keys = page.client, page.keys
    one = {"letters": [{"text": LETTERS[1]["text"]}]}
    assert client.post("/v1/letters:batch", json=one, headers=auth("xf_old-key")).status_code == 200  # no role: intake
    for role in (Role.reviewer, Role.supervisor, Role.admin):
        r = client.post("/v1/letters:batch", json=one, headers=auth(keys[role]))
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_role", role


def test_login_session_cookie_and_csrf(page, tiny_model_dir):
    client = TestClient(page.client.app)
    r = client.get("/review/queues/human", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/review/login?next=")
    form = client.get("/review/login")
    assert "script-src 'self'" in form.headers["content-security-policy"]
    token = csrf_of(form.text)
    assert client.post("/review/login", data={"csrf": "forged", "key": page.keys[Role.reviewer]}).status_code == 403
    r = client.post("/review/login", data={"csrf": token, "key": page.keys[Role.intake]})
    assert r.status_code == 403 and "intake" in r.text  # an intake key may not review
    r = client.post("/review/login", data={"csrf": csrf_of(r.text), "key": page.keys[Role.reviewer],
                                           "next": "https://elsewhere.example/"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/review/"  # never sent to another site
    cookie = r.headers["set-cookie"]
    assert "xf_review=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/review" in cookie
    assert client.get("/review/queues/uncertain").status_code == 200
    r = client.post("/review/letters/r-2", data={"action": "accept"}, follow_redirects=False)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"  # a form without the token


def test_queues_list_letters_with_reasons(page):
    client = TestClient(page.client.app)
    login(client, page.keys[Role.reviewer])
    human = client.get("/review/queues/human")
    assert human.status_code == 200
    routed = [x.letter_id for x in page.store.letters() if x.route == "human"]
    for letter_id in routed:
        assert f"/review/letters/{letter_id}?queue=human" in human.text
    uncertain = client.get("/review/queues/uncertain").text
    assert "margin" in uncertain and "/review/letters/r-" in uncertain
    assert client.get("/review/queues/nope").status_code == 404


def test_letter_masked_for_reviewer_unmasked_for_supervisor_and_logged(page, caplog):
    reviewer = TestClient(page.client.app)
    login(reviewer, page.keys[Role.reviewer])
    html = reviewer.get("/review/letters/r-1").text
    assert PHONE not in html and "〔手机号〕" in html
    assert "r-2" in html  # the same submitter's other letter
    assert 'class="conf"' in html and "topic" in html  # each head's answer with its confidence
    assert "unmasked=true" not in html
    assert reviewer.get("/review/letters/r-1?unmasked=true").json()["error"]["code"] == "forbidden_role"
    page_403 = reviewer.get("/review/letters/r-1?unmasked=true", headers={"Accept": "text/html"})
    assert page_403.status_code == 403 and "supervisor" in page_403.text and "<html" in page_403.text  # a browser
    supervisor = TestClient(page.client.app)
    login(supervisor, page.keys[Role.supervisor])
    assert "unmasked=true" in supervisor.get("/review/letters/r-1").text
    with caplog.at_level(logging.INFO, logger="xinfang.serving.review"):
        html = supervisor.get("/review/letters/r-1?unmasked=true").text
    assert PHONE in html
    views = page.store.unmasked_views()
    assert [(v.key_label, v.letter_id) for v in views][-1] == ("supervisor-1", "r-1")
    logged = [r.getMessage() for r in caplog.records if "unmasked view" in r.getMessage()]
    assert logged and "supervisor-1" in logged[0] and "r-1" in logged[0]
    assert all(PHONE not in r.getMessage() and "王某某" not in r.getMessage() for r in caplog.records)


def test_corrections_are_an_audit_trail_and_feed_training(page, tmp_path):
    client = TestClient(page.client.app)
    login(client, page.keys[Role.reviewer])
    token = csrf_of(client.get("/review/letters/r-3").text)
    schema = load_schema()
    sector = schema.head("sector").class_ids
    model_sector = page.store.letter("r-3").result["sector"]["label"]
    other = next(c for c in sector if c != model_sector)
    r = client.post("/review/letters/r-3", data={"csrf": token, "action": "save", "head.sector": other},
                    follow_redirects=False)
    assert r.status_code == 303 and "saved=" in r.headers["location"]
    first = {c.head: c for c in page.store.corrections("r-3")}
    assert first["sector"].value == other and first["sector"].action == "set" and first["sector"].reviewer == "reviewer-1"
    assert "r-3" in client.get("/review/queues/disagree").text  # the model and the human label disagree
    client.post("/review/letters/r-3", data={"csrf": token, "action": "accept"})
    trail = page.store.corrections("r-3", current=False)
    now = {c.head: c for c in page.store.corrections("r-3")}
    assert now["sector"].value == model_sector and now["sector"].supersedes == first["sector"].row_id
    assert any(c.row_id == first["sector"].row_id and c.value == other for c in trail)  # kept, superseded
    bad = client.post("/review/letters/r-3", data={"csrf": token, "action": "save", "head.sector": "no-such"})
    assert bad.status_code == 422
    client.post("/review/letters/r-3", data={"csrf": token, "action": "save", "head.sector": other})
    path, n = export_corrections(page.store, page.settings.reviews_path)
    assert n >= 1 and review_files(page.settings) == [path]
    letters = {x.id: x for x in read_labelled(path, schema)}
    assert letters["r-3"].labels["sector"] == other and letters["r-3"].source == "review"
    assert letters["r-3"].text == LETTERS[2]["text"]  # the original text, as training needs it
    assert letters["r-3"].extra["provenance"]["reviewer"] == "reviewer-1"


def test_review_load_joins_texts_by_id(page, tmp_path):
    input_file = tmp_path / "in.jsonl"
    rows = [{"id": "b-1", "text": LETTERS[1]["text"], "sector": "城乡建设", "submitter": "s-9"},
            {"id": "b-2", "text": LETTERS[2]["text"], "malicious": "maybe"}]
    input_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = page.client.post("/v1/letters:batch", json={"letters": [{"id": "b-1", "text": rows[0]["text"]}]},
                              headers=auth(page.keys[Role.intake])).json()["results"][0]
    output = tmp_path / "out.jsonl"
    missing = {**result, "id": "b-3"}
    output.write_text(json.dumps(result) + "\n" + json.dumps(missing) + "\n", encoding="utf-8")
    res = load_batch(output, input_file, page.settings, load_schema(), page.store)
    assert res.loaded == 1 and res.without_text == ["b-3"]
    row = page.store.letter("b-1")
    assert row.source == "batch" and row.text == rows[0]["text"] and row.given_labels["sector"]
    assert row.submitter_hash and row.submitter_hash != "s-9"


def test_admin_manages_keys_and_a_revoked_key_ends_its_sessions(page):
    client = page.client
    admin = {**auth(page.keys[Role.admin]), "Content-Type": "application/json"}  # BodyGuard: every /v1 write
    assert client.get("/v1/keys", headers=auth(page.keys[Role.intake])).json()["error"]["code"] == "forbidden_role"
    listed = {k["label"]: k["role"] for k in client.get("/v1/keys", headers=admin).json()}
    assert listed["reviewer-1"] == "reviewer" and listed["old-clerk"] == "intake"
    r = client.post("/v1/keys", json={"label": "li", "role": "reviewer"}, headers=admin)
    assert r.status_code == 201 and r.json()["role"] == "reviewer"
    assert client.post("/v1/keys", json={"label": "li"}, headers=admin).status_code == 409
    browser = TestClient(client.app)
    login(browser, r.json()["key"])
    assert browser.get("/review/queues/human").status_code == 200
    assert client.delete("/v1/keys/li", headers=admin).status_code == 204
    gone = browser.get("/review/queues/human", follow_redirects=False)
    assert gone.status_code == 303 and "/review/login" in gone.headers["location"]
    assert client.delete("/v1/keys/li", headers=admin).status_code == 404


def test_letters_enter_the_review_store_only_when_texts_are_kept(tmp_path, tiny_model_dir):
    settings = make_settings(tmp_path, auth_enabled=False)
    with TestClient(create_app(settings, engine=Engine(tiny_model_dir, precision="int8"))) as client:
        assert client.post("/v1/letters:score", json={"id": "x-1", "text": LETTER}).status_code == 200
        assert review_store(client.app.state.xinfang).letters() == []
        login(client, "")  # authentication off: the local user reviews, masked
        assert client.get("/review/queues/human").status_code == 200


def test_review_load_and_corrections_commands(page, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from xinfang.cli import app
    from xinfang.config import get_settings

    texts = tmp_path / "in.jsonl"
    texts.write_text(json.dumps({"id": "c-1", "text": LETTERS[1]["text"]}, ensure_ascii=False) + "\n", "utf-8")
    result = page.client.post("/v1/letters:batch", json={"letters": [{"id": "c-1", "text": LETTERS[1]["text"]}]},
                              headers=auth(page.keys[Role.intake])).json()["results"][0]
    output = tmp_path / "out.jsonl"
    output.write_text(json.dumps(result) + "\n", encoding="utf-8")
    monkeypatch.setenv("XINFANG_STATE_DIR", str(page.settings.state_dir))
    monkeypatch.setenv("XINFANG_REVIEWS_DIR", str(tmp_path / "reviews"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(app, ["review", "load", str(output), "--texts", str(texts)])
        assert r.exit_code == 0 and "1 letters" in r.output, r.output
        assert page.store.letter("c-1").source == "batch"
        page.store.correct("c-1", [Change("abusive", True, "set", False)], "reviewer-1", "reviewer", "tiny/v0")
        r = runner.invoke(app, ["review", "corrections"])
        assert r.exit_code == 0, r.output
        exported = read_labelled(tmp_path / "reviews" / "review-page.jsonl", load_schema())
        assert {x.id: x.labels for x in exported}["c-1"] == {"abusive": True}
        bad = runner.invoke(app, ["review", "load", str(texts), "--texts", str(texts)])
        assert bad.exit_code == 3 and "in.jsonl:1" in bad.output  # unreadable input: file and line named
    finally:
        get_settings.cache_clear()


def test_sessions_expire_and_log_out_needs_the_form_token(page):
    token, _ = page.store.open_session(hash_key(page.keys[Role.reviewer]), hours=-1)
    assert page.store.session(token) is None  # expired
    client = TestClient(page.client.app)
    login(client, page.keys[Role.reviewer])
    queue = client.get("/review/queues/human")
    cookie = client.cookies.get("xf_review")
    other = TestClient(page.client.app)
    other.cookies.set("xf_review", cookie, path="/review")  # the cookie alone opens the session
    assert other.get("/review/queues/human", follow_redirects=False).status_code == 200
    assert client.post("/review/logout", data={"csrf": "x"}).status_code == 403
    r = client.post("/review/logout", data={"csrf": csrf_of(queue.text)}, follow_redirects=False)
    assert r.status_code == 303 and 'xf_review=""' in r.headers["set-cookie"]
    assert other.get("/review/queues/human", follow_redirects=False).status_code == 303  # ... until log-out


def test_review_forms_are_bounded(page):
    client = TestClient(page.client.app)
    r = client.post("/review/login", content=b"csrf=" + b"x" * 70_000,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert client.post("/review/login", json={"key": "k"}).status_code == 415


@pytest.mark.parametrize("backend", BACKENDS)
def test_review_store_on_each_database(backend, request, tmp_path):
    """Letters (a NUL in the text too), superseding corrections and sessions on SQLite and PostgreSQL."""
    from xinfang.serving.review.models import ReviewLetter
    from xinfang.serving.review.store import ReviewStore
    from xinfang.serving.store import ResultsStore, utcnow

    results = ResultsStore(backend_url(request, backend) or f"sqlite:///{tmp_path / 'r.sqlite'}")
    try:
        store = ReviewStore(results.engine)
        store.add_letters([ReviewLetter(letter_id="p-1", added_at=utcnow(), source="api", text="举报\x00信",
                                        result={"route": {"decision": "human", "reasons": ["x"]}}, route="human",
                                        submitter_hash="h", given_labels={"topic": ["work"]})])
        assert store.letter("p-1").text in {"举报\x00信", "举报\ufffd信"} and len(store.letters()) == 1
        one = Change("topic", ["mass", "work"], "set", ["work"])
        assert store.correct("p-1", [one], "zhang", "reviewer", "m/v") == 1
        assert store.correct("p-1", [one], "zhang", "reviewer", "m/v") == 0  # nothing changed: nothing stored
        store.correct("p-1", [Change("topic", ["work"], "accept", ["work"])], "li", "supervisor", "m/v")
        trail = store.corrections("p-1", current=False)
        assert [c.value for c in trail] == [["mass", "work"], ["work"]] and trail[1].supersedes == trail[0].row_id
        assert [c.reviewer for c in store.corrections("p-1")] == ["li"]
        token, session = store.open_session("d" * 64, hours=1)
        assert store.session(token).csrf == session.csrf and store.session("other") is None
    finally:
        results.close()


def test_a_correction_superseded_meanwhile_is_a_conflict(page, monkeypatch):
    from sqlalchemy.exc import IntegrityError

    client = TestClient(page.client.app)
    login(client, page.keys[Role.reviewer])
    token = csrf_of(client.get("/review/letters/r-2").text)

    def raced(*args: object, **kwargs: object) -> int:  # what the unique `supersedes` answers a second writer
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: review_corrections.supersedes"))

    monkeypatch.setattr(type(page.store), "correct", raced)
    r = client.post("/review/letters/r-2", data={"csrf": token, "action": "accept"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
