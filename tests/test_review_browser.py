"""The review page in a real browser (Debian's headless chromium driven by Playwright): log in with a key,
open a letter from the queue with the keyboard, correct a label, and find the correction stored.
XINFANG_REVIEW_SCREENSHOTS=DIR also saves the screenshots there (docs/ keeps the committed ones)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from live_server import live_server, log_in
from test_review_page import LETTERS
from test_serving_api import auth, make_settings

from xinfang.engine import Engine
from xinfang.evaluation.render import find_chromium
from xinfang.serving.app import create_app
from xinfang.serving.keys import Role, create_key
from xinfang.serving.review.session import review_store

playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]' (playwright)")


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model_dir) -> Iterator[SimpleNamespace]:
    if find_chromium() is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    settings = make_settings(tmp_path_factory.mktemp("browser"), store_text=True)
    intake = create_key(settings.api_keys_path, "clerk", Role.intake)
    reviewer = create_key(settings.api_keys_path, "zhang", Role.reviewer)
    app = create_app(settings, engine=Engine(tiny_model_dir, precision="int8"))
    with live_server(app) as base:
        r = httpx.post(f"{base}/v1/letters:batch", json={"letters": LETTERS}, headers=auth(intake), timeout=60)
        assert r.status_code == 200, r.text
        yield SimpleNamespace(base=base, reviewer=reviewer, app=app)


def test_log_in_open_a_letter_correct_a_label(served, tmp_path: Path) -> None:
    shots = Path(os.environ.get("XINFANG_REVIEW_SCREENSHOTS") or tmp_path)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        log_in(page, served.base, served.reviewer, "/review/queues/uncertain")
        assert page.url.endswith("/review/queues/uncertain")
        assert page.locator("#queue tbody tr").count() == len(LETTERS)
        page.screenshot(path=str(shots / "review-queue.png"), full_page=True)
        page.keyboard.press("j")  # the second letter of the queue
        second = page.locator("#queue tbody tr.selected a").inner_text()
        page.keyboard.press("Enter")
        page.wait_for_url("**/review/letters/**")
        assert page.locator("h1 code").inner_text() == second
        assert "13912345678" not in page.content()  # personal data masked for a reviewer
        state = served.app.state.xinfang
        model = review_store(state).letter(second).result["sector"]["label"]
        sector = state.folder.schema.head("sector")
        pick = next(i for i, c in enumerate(sector.class_ids) if c != model)
        while page.locator("fieldset.head.focused").get_attribute("data-head") != "sector":
            page.keyboard.press("j")
        page.keyboard.press(str(pick + 1))
        flag = review_store(state).letter(second).result["abusive"]["flag"]
        while page.locator("fieldset.head.focused").get_attribute("data-head") != "abusive":
            page.keyboard.press("j")
        page.keyboard.press("0" if flag else "1")  # a yes/no head: 0 no, 1 yes
        page.screenshot(path=str(shots / "review-letter.png"), full_page=True)
        page.keyboard.press("s")
        page.wait_for_selector("#saved")
        assert "sector" in page.locator("table.trail").inner_text()
        browser.close()
    stored = {c.head: c for c in review_store(state).corrections(second)}
    assert stored["sector"].value == sector.class_ids[pick] and stored["sector"].action == "set"
    assert stored["sector"].reviewer == "zhang"
    assert stored["abusive"].value is (not flag) and stored["abusive"].action == "set"
    assert stored["topic"].action == "accept"  # the heads left as the model answered are confirmed
