"""`xinfang classify` on scans: a folder (or list) of image and PDF files, one letter per file, id = file name;
an unreadable file is an error row naming it, and a rerun resumes by file name without OCR'ing done files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

pytest.importorskip("rapidocr")
from PIL import Image  # noqa: E402
from scan_pages import LINES, render, text_pdf  # noqa: E402  (tests/ is on sys.path)
from test_batch import error_rows, run, settings  # noqa: E402, F401  (settings: the batch fixture)

from xinfang.batch.job import JobFiles  # noqa: E402
from xinfang.batch.records import Letter  # noqa: E402
from xinfang.batch.scans import ScanFolder, ScanLetter, is_scan_input  # noqa: E402
from xinfang.config import Settings  # noqa: E402
from xinfang.errors import XinfangError  # noqa: E402


def scans(folder: Path) -> Path:
    """One OCR'd page, one PDF with a text layer, and four files that cannot be letters."""
    folder.mkdir()
    (folder / "a.png").write_bytes(render(LINES, size=(560, 200)))
    (folder / "b.pdf").write_bytes(text_pdf(["Dear office,", "the road by the school is broken."]))
    (folder / "c.txt").write_bytes(b"not a scan")
    bomb = io.BytesIO()
    Image.new("1", (8000, 6000)).save(bomb, "PNG")
    (folder / "d.png").write_bytes(bomb.getvalue())
    blank = io.BytesIO()
    Image.new("RGB", (200, 100), "white").save(blank, "JPEG")
    (folder / "e.jpg").write_bytes(blank.getvalue())
    (folder / "f.pdf").write_bytes(b"%PDF-1.4 broken")
    (folder / ".hidden.png").write_bytes(b"")
    return folder


def shapes(rows: list) -> list[tuple[str, str]]:
    return [(r.id, "letter" if isinstance(r, Letter) else r.reason.value) for r in rows]


def test_a_folder_of_scans_is_read_file_by_file(tmp_path: Path) -> None:
    folder = scans(tmp_path / "scans")
    assert is_scan_input([folder]) and is_scan_input([folder / "a.png", folder / "b.pdf"])
    assert not is_scan_input([folder / "c.txt"]) and is_scan_input([folder / "c.txt", folder / "b.pdf"])
    source = ScanFolder([folder], Settings(scan_max_pixels=40_000_000))
    assert source.count() == 6  # the hidden file is left out
    rows = list(source.rows())
    assert shapes(rows) == [("a.png", "letter"), ("b.pdf", "letter"), ("c.txt", "unreadable_scan"),
                            ("d.png", "scan_too_large"), ("e.jpg", "empty_text"), ("f.pdf", "unreadable_scan")]
    a, b = rows[0], rows[1]
    assert isinstance(a, ScanLetter) and a.ocr.source == "ocr" and "".join(a.text.split()) == "".join(LINES)
    assert b.ocr.source == "pdf_text" and b.text == "Dear office, the road by the school is broken."
    error = rows[3].to_dict()
    assert error["file"] == error["id"] == "d.png" and error["line"] == 4 and "pixels" in error["message"]


def test_resume_skips_files_by_name_before_reading_them(tmp_path: Path) -> None:
    folder = scans(tmp_path / "scans")
    source = ScanFolder([folder], Settings())
    skipped: list[int] = []
    errors = tmp_path / "out.jsonl.errors.jsonl"
    errors.write_text("".join(f'{{"id": "{x}", "file": "{x}", "line": 1, "reason": "unreadable_scan"}}\n'
                              for x in ("c.txt", "d.png", "e.jpg", "f.pdf")) + "torn", encoding="utf-8")
    assert len(source.resume({"a.png"}, errors, lambda: skipped.append(1))) == 4
    (folder / "a.png").write_bytes(b"would be an error row if it were read again")
    assert shapes(list(source.rows())) == [("b.pdf", "letter")] and len(skipped) == 5


def test_classify_scores_a_folder_and_resumes_by_file_name(settings: Settings, tmp_path: Path) -> None:  # noqa: F811
    folder = scans(tmp_path / "scans")
    out = folder / "out.jsonl"  # written into the folder it reads: its own files are not letters
    report, _ = run(settings, folder, out)
    results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in results] == ["a.png", "b.pdf"]
    assert results[0]["ocr"]["source"] == "ocr" and results[1]["ocr"]["source"] == "pdf_text"
    errors = error_rows(JobFiles.for_output(out).errors)
    assert [(e["file"], e["reason"]) for e in errors] == [
        ("c.txt", "unreadable_scan"), ("d.png", "scan_too_large"), ("e.jpg", "empty_text"),
        ("f.pdf", "unreadable_scan")]
    assert report["letters"] == {"total": 6, "results": 2, "errors": 4}
    texts = [json.loads(line) for line in Path(f"{out}.texts.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [t["id"] for t in texts] == ["a.png", "b.pdf"] and texts[1]["text"].startswith("Dear office")
    (folder / "a.png").write_bytes(b"changed: an error row if it were read again")
    (folder / "g.png").write_bytes(render(["新来的一封信。"], size=(300, 80)))  # sorts last, read now
    again, _ = run(settings, folder, out)
    assert [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()] == [
        "a.png", "b.pdf", "g.png"]
    assert len(error_rows(JobFiles.for_output(out).errors)) == 4
    assert again["letters"] == {"total": 7, "results": 3, "errors": 4}
    assert len(Path(f"{out}.texts.jsonl").read_text(encoding="utf-8").splitlines()) == 3


def test_classify_takes_a_list_of_scans(settings: Settings, tmp_path: Path) -> None:  # noqa: F811
    folder = scans(tmp_path / "scans")
    report, _ = run(settings, folder / "b.pdf", tmp_path / "out.jsonl", more_inputs=[folder / "c.txt"])
    assert report["letters"] == {"total": 2, "results": 1, "errors": 1}  # c.txt, named, is an error row
    with pytest.raises(XinfangError, match="no such file"):
        run(settings, folder / "b.pdf", tmp_path / "again.jsonl", more_inputs=[folder / "missing.png"])
