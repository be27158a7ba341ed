"""POST /v1/letters:scan against the tiny model: a scanned page is OCR'd and scored, with the same auth as
the other endpoints and its own limits (413 for a decompression bomb, before decoding)."""

from __future__ import annotations

import io
import re

import pytest

pytest.importorskip("rapidocr")
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402
from scan_pages import LINES, render  # noqa: E402  (tests/ is on sys.path)

from xinfang.config import Settings  # noqa: E402
from xinfang.engine import Engine  # noqa: E402
from xinfang.serving.app import create_app  # noqa: E402
from xinfang.serving.keys import create_key  # noqa: E402


@pytest.fixture(scope="module")
def api(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("scan-api")
    settings = Settings(state_dir=folder, models_dir=folder / "models", max_body_bytes=64 * 1024,
                        scan_max_bytes=2 * 1024 * 1024, microbatch_wait_ms=1.0, store_text=True)
    key = create_key(settings.api_keys_path, "tests")
    with TestClient(create_app(settings, engine=Engine(tiny_model_dir, precision="fp32"))) as client:
        yield client, {"Authorization": f"Bearer {key}"}


def test_a_scan_is_read_and_scored(api) -> None:
    client, headers = api
    page = render(LINES, size=(560, 200))
    assert len(page) < 64 * 1024 * 2  # bigger uploads than max_body_bytes are fine: scans have their own limit
    answer = client.post("/v1/letters:scan", headers=headers, files={"file": ("letter.png", page, "image/png")},
                         data={"id": "scan-1"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert re.sub(r"\s", "", body["text"]) == "".join(LINES)
    result = body["result"]
    assert result["id"] == "scan-1" and "topic" in result
    assert result["ocr"]["source"] == "ocr" and result["ocr"]["pages"] == 1
    assert 0 < result["ocr"]["min_confidence"] <= result["ocr"]["mean_confidence"] <= 1
    stored = client.get("/v1/letters/scan-1", headers=headers).json()["result"]
    assert stored["ocr"] == result["ocr"]  # the stored result keeps the OCR record for the reviewer


def test_scan_refusals(api) -> None:
    client, headers = api
    bomb = io.BytesIO()
    Image.new("1", (8000, 6000)).save(bomb, "PNG")  # 48 megapixels in a few kilobytes

    def post(content: bytes, name: str = "x.png", **kw):
        return client.post("/v1/letters:scan", files={"file": (name, content, "application/octet-stream")}, **kw)

    assert post(b"", headers={}).status_code == 401
    answer = post(bomb.getvalue(), headers=headers)
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "scan_too_large"
    answer = post(b"not an image at all", headers=headers)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "unreadable_scan"
    blank = io.BytesIO()
    Image.new("RGB", (200, 100), "white").save(blank, "PNG")
    answer = post(blank.getvalue(), headers=headers)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "empty_text"
    answer = post(b"\x89PNG" + b"0" * (3 * 1024 * 1024), headers=headers)  # over the body limit itself
    assert answer.status_code == 413
    answer = client.post("/v1/letters:scan", headers=headers, json={"text": "x"})
    assert answer.status_code == 415
