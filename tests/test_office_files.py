"""Office files: CSV saved by Excel on a Chinese Windows desktop (GB18030, CRLF, Chinese header), UTF-8 with
a BOM, TSV, xlsx, an explicit --encoding, undecodable files, and letters through standard input and output."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from test_batch import error_rows, jsonl_ids, make_letters, run, settings  # noqa: F401  (the batch fixture)
from test_cli import cli  # noqa: F401  (a runner that sees the tiny model)
from typer.testing import CliRunner

from xinfang.batch.job import JobFiles
from xinfang.batch.reader import Columns, read_letters
from xinfang.batch.records import Letter
from xinfang.config import Settings
from xinfang.errors import InputFileError, XinfangError
from xinfang.tables import Records, detect_encoding, table_format


def excel_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "gb18030",
              delimiter: str = ",") -> Path:
    """A table as Excel writes 'CSV (comma delimited)' on a Chinese Windows desktop: the ANSI code page, CRLF."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def letter_rows(n: int) -> list[list[str]]:
    return [[r["id"], r["text"], r["submitter"]] for r in make_letters(n)]


def no_output_files(out: Path) -> bool:
    files = JobFiles.for_output(out)
    return not any(p.exists() for p in (files.output, files.errors, files.sigs, files.summary))


# --- the two failures of the issue ------------------------------------------------------------------------

def test_gb18030_csv_every_row_classified(settings: Settings, tmp_path: Path):  # noqa: F811
    src = excel_csv(tmp_path / "backlog.csv", ["id", "text", "submitter"], letter_rows(12))
    out = tmp_path / "out.jsonl"
    report, _ = run(settings, src, out)
    assert report["letters"] == {"total": 12, "results": 12, "errors": 0}
    assert jsonl_ids(out) == [f"L{i:04d}" for i in range(12)]
    assert error_rows(JobFiles.for_output(out).errors) == []


def test_gb18030_csv_with_a_chinese_header(settings: Settings, tmp_path: Path):  # noqa: F811
    rows = letter_rows(9) + [["X1", "", "S0"]]
    src = excel_csv(tmp_path / "来信.csv", ["编号", "内容", "来信人"], rows)
    out = tmp_path / "out.csv"
    report, _ = run(settings, src, out, columns=Columns("编号", "内容", "来信人"))
    assert report["letters"] == {"total": 10, "results": 9, "errors": 1}
    with out.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["id"] for r in table] == [r[0] for r in rows[:9]]
    assert [(e["line"], e["id"], e["reason"]) for e in error_rows(JobFiles.for_output(out).errors)] == [
        (11, "X1", "empty_text")]


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_an_unreadable_input_writes_no_output_file(settings: Settings, tmp_path: Path,  # noqa: F811
                                                   encoding: str):
    src = excel_csv(tmp_path / "来信.csv", ["编号", "内容"], [r[:2] for r in letter_rows(3)], encoding)
    out = tmp_path / "out.jsonl"
    with pytest.raises(InputFileError, match="no column 'id'.*编号, 内容"):
        run(settings, src, out)
    assert no_output_files(out)


# --- encodings ---------------------------------------------------------------------------------------------

def test_utf8_with_and_without_bom_and_gbk_are_detected(tmp_path: Path):
    rows = letter_rows(3)
    for name, encoding, expect in [("a.csv", "utf-8", "utf-8"), ("b.csv", "utf-8-sig", "utf-8-sig"),
                                   ("c.csv", "gbk", "gb18030"), ("d.csv", "gb18030", "gb18030")]:
        src = excel_csv(tmp_path / name, ["id", "text", "submitter"], rows, encoding)
        assert detect_encoding(src) == expect, name
        assert [r.text for r in read_letters(src) if isinstance(r, Letter)] == [r[1] for r in rows], name


def test_excel_unicode_text_utf16_tab_separated(tmp_path: Path):
    """Excel's 'Unicode text' (.txt): UTF-16 with a BOM, tab-separated; sniffed and detected."""
    src = tmp_path / "来信.txt"
    src.write_bytes('编号\t内容\r\nA1\t第一封信\r\nA2\t"两行\n的信"\r\n'.encode("utf-16"))
    got = [(r.line, r.id, r.text) for r in read_letters(src, columns=Columns("编号", "内容", None))]
    assert got == [(2, "A1", "第一封信"), (3, "A2", "两行\n的信")]


def test_a_damaged_row_of_a_utf8_file_is_an_error_row_not_a_failure(tmp_path: Path):
    src = tmp_path / "in.csv"
    src.write_bytes("id,text\nu1,第一封\nu2,第二封\n".encode() + b"u3,\xff\xfe broken\n" + "u4,第四封\n".encode())
    got = [(r.line, r.id if isinstance(r, Letter) else r.reason.value) for r in read_letters(src)]
    assert got == [(2, "u1"), (3, "u2"), (4, "invalid_encoding"), (5, "u4")]


def test_an_undecodable_file_fails_with_its_line_and_a_hint(settings: Settings, tmp_path: Path):  # noqa: F811
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,text\n" + b"".join(b"x%d,\xff\xfe\xfd%d\n" % (i, i) for i in range(5)))
    out = tmp_path / "out.jsonl"
    with pytest.raises(InputFileError, match=r"in\.csv:2: .*neither UTF-8 nor GB18030.*--encoding"):
        run(settings, src, out)
    assert no_output_files(out)
    with pytest.raises(InputFileError, match=r":2: line is not valid .*--encoding"):
        list(Records(src, encoding="utf-8"))


def test_an_explicit_encoding(settings: Settings, tmp_path: Path):  # noqa: F811
    rows = [["b1", "臺北市政府違規收費", "S1"], ["b2", "學校亂收補課費", "S2"]]
    src = excel_csv(tmp_path / "big5.csv", ["id", "text", "submitter"], rows, "big5")
    report, _ = run(settings, src, tmp_path / "out.jsonl", encoding="big5")
    assert report["letters"]["results"] == 2
    assert [r.text for r in read_letters(src, encoding="big5") if isinstance(r, Letter)] == [r[1] for r in rows]


# --- TSV and workbooks -------------------------------------------------------------------------------------

def test_tsv_is_read_as_tsv(settings: Settings, tmp_path: Path):  # noqa: F811
    rows = letter_rows(4) + [["t5", "含\t制表符的\n两行信", "S5"]]
    src = excel_csv(tmp_path / "in.tsv", ["id", "text", "submitter"], rows, "gb18030", delimiter="\t")
    report, _ = run(settings, src, tmp_path / "out.jsonl")
    assert report["letters"] == {"total": 5, "results": 5, "errors": 0}
    assert [r.text for r in read_letters(src) if isinstance(r, Letter)][-1] == "含\t制表符的\n两行信"


def write_xlsx(path: Path, rows: list[list]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def test_xlsx_letters_every_row_accounted_for(settings: Settings, tmp_path: Path):  # noqa: F811
    src = write_xlsx(tmp_path / "来信.xlsx", [
        ["编号", "内容", "来信人"],
        [1001, "村干部克扣低保补贴，请调查。", 13800000000],  # numbers as Excel stores them
        [], [],  # empty rows are not letters
        ["A2", "工地夜间施工噪音扰民。", None],
        ["A3", None, "S3"],  # no text: an error row
        [1001, "重复编号的信", "S4"],
    ])
    got = [(r.line, r.id if isinstance(r, Letter) else r.reason.value)
           for r in read_letters(src, columns=Columns("编号", "内容", "来信人"))]
    assert got == [(2, "1001"), (5, "A2"), (6, "empty_text"), (7, "1001")]
    out = tmp_path / "out.jsonl"
    report, _ = run(settings, src, out, columns=Columns("编号", "内容", "来信人"))
    assert report["letters"] == {"total": 4, "results": 2, "errors": 2}
    assert jsonl_ids(out) == ["1001", "A2"]
    assert {(e["line"], e["reason"]) for e in error_rows(JobFiles.for_output(out).errors)} == {
        (6, "empty_text"), (7, "duplicate_id")}


def test_a_broken_workbook_fails_cleanly(settings: Settings, tmp_path: Path):  # noqa: F811
    src = tmp_path / "in.xlsx"
    src.write_bytes(b"PK\x03\x04 not really a workbook")
    out = tmp_path / "out.jsonl"
    with pytest.raises(InputFileError, match="not a readable workbook"):
        run(settings, src, out)
    assert no_output_files(out)


def test_formats_by_suffix_and_by_content(tmp_path: Path):
    assert [table_format(Path(f"x.{s}")) for s in ("jsonl", "csv", "tsv", "xlsx", "xls")] == [
        "jsonl", "csv", "tsv", "xlsx", "xlsx"]
    for content, fmt in [(b'{"id": 1}\n', "jsonl"), (b"id,text\n", "csv"), (b"id\ttext\n", "tsv"),
                         (b"PK\x03\x04...", "xlsx")]:
        (tmp_path / "stdin").write_bytes(content)
        assert table_format(tmp_path / "stdin") == fmt


# --- labelled letters and reviews read through the same reader ----------------------------------------------

def test_labelled_letters_from_office_files(tmp_path: Path):
    from xinfang.labels import read_labelled
    from xinfang.schema import load_schema

    schema = load_schema()
    rows = [["r1", "拆迁补偿标准不公开", "1"], ["r2", "学校乱收费", "0"]]
    gb = excel_csv(tmp_path / "labels.csv", ["id", "text", "malicious"], rows)
    book = write_xlsx(tmp_path / "labels.xlsx", [["id", "text", "malicious"], *[[r[0], r[1], int(r[2])]
                                                                                for r in rows]])
    for path in (gb, book):
        got = read_labelled(path, schema)
        assert [(x.id, x.text, x.labels) for x in got] == [
            ("r1", "拆迁补偿标准不公开", {"malicious": True}), ("r2", "学校乱收费", {"malicious": False})], path
    with pytest.raises(InputFileError, match=r"labels\.csv:2: .*not valid utf-8.*--encoding"):
        list(Records(gb, encoding="utf-8"))


# --- standard input and output -----------------------------------------------------------------------------

def test_stdin_to_stdout(cli: CliRunner, tmp_path: Path):  # noqa: F811
    from xinfang.cli import app

    rows = letter_rows(5) + [["X1", "", "S0"]]
    data = excel_csv(tmp_path / "in.csv", ["编号", "内容", "来信人"], rows).read_bytes()
    res = cli.invoke(app, ["classify", "-", "-o", "-", "--model", "tiny/v0", "--precision", "fp32",
                                   "--id-column", "编号", "--text-column", "内容", "--submitter-column", "来信人",
                                   "--no-progress"], input=data)
    assert res.exit_code == 1, res.output  # done, with an error row
    results = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["id"] for r in results] == [r[0] for r in rows[:5]]
    errors = [json.loads(line) for line in res.stderr.splitlines() if line.startswith("{")]
    assert [(e["line"], e["reason"]) for e in errors] == [(7, "empty_text")]
    assert not list(tmp_path.glob("-*"))  # no side files named after '-'


# --- the review loop through Excel ---------------------------------------------------------------------------

def test_review_file_saved_by_excel_imports(tiny_model_dir: Path, tmp_path: Path):
    """A review CSV exported with a BOM, corrected in Excel and saved as GB18030 CSV or as xlsx, imports."""
    from xinfang.evaluation.review import export_review, import_review
    from xinfang.model_folder import ModelFolder

    letters = excel_csv(tmp_path / "letters.csv", ["id", "text", "sector"],
                        [["R1", "村里低保补贴被村干部克扣", "城乡建设"], ["R2", "工厂排放污水", "环境保护"]])
    exported = tmp_path / "review.csv"
    export_review(ModelFolder(tiny_model_dir), letters, exported)
    assert exported.read_bytes().startswith(b"\xef\xbb\xbfid,")
    with exported.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    header, rows = table[0], table[1:]
    for row in rows:
        row[header.index("corrected_sector")] = "劳动和社会保障"
        row[header.index("reviewer")] = "王审核"
    saved_csv = excel_csv(tmp_path / "review-saved.csv", header, rows)  # Excel's "CSV" on Chinese Windows
    saved_xlsx = write_xlsx(tmp_path / "review-saved.xlsx", [header, *rows])
    target = Settings(models_dir=tmp_path / "models", data_dir=tmp_path / "data")
    for saved in (saved_csv, saved_xlsx):
        done = import_review(saved, target)
        assert done.n_letters == 2 and done.masked_text == 0, saved
        got = [json.loads(line) for line in done.path.read_text(encoding="utf-8").splitlines()]
        assert [(g["id"], g["text"], g["sector"]) for g in got] == [
            ("R1", "村里低保补贴被村干部克扣", "labour_social_security"),
            ("R2", "工厂排放污水", "labour_social_security")], saved


def test_review_export_to_stdout_and_import_from_stdin(cli: CliRunner, tiny_model_dir: Path,  # noqa: F811
                                                       tmp_path: Path):
    from xinfang.cli import app

    letters = excel_csv(tmp_path / "letters.csv", ["id", "text", "sector"], [["R1", "工厂排放污水", "环境保护"]])
    res = cli.invoke(app, ["review", "export", str(letters), "--model", str(tiny_model_dir), "-o", "-"])
    assert res.exit_code == 0, res.output
    assert res.stdout_bytes.startswith(b"\xef\xbb\xbfid,") and "工厂排放污水" in res.stdout
    rows = list(csv.reader(io.StringIO(res.stdout.lstrip("\ufeff"))))
    rows[1][rows[0].index("corrected_sector")] = "交通运输"
    rows[1][rows[0].index("reviewer")] = "王审核"
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    res = cli.invoke(app, ["review", "import", "-", "--out-dir", str(tmp_path / "rev"), "--encoding", "gb18030"],
                     input=buf.getvalue().encode("gb18030"))
    assert res.exit_code == 0, res.output
    [written] = (tmp_path / "rev").glob("*.jsonl")
    assert json.loads(written.read_text(encoding="utf-8"))["sector"] == "transport"


def test_review_export_to_xlsx_round_trip(tiny_model_dir: Path, tmp_path: Path):
    from openpyxl import load_workbook

    from xinfang.evaluation.review import export_review, import_review
    from xinfang.model_folder import ModelFolder

    letters = tmp_path / "letters.jsonl"
    letters.write_text(json.dumps({"id": "X1", "text": "村务财务多年不公开\x0b请查"}, ensure_ascii=False) + "\n",
                       encoding="utf-8")
    out = tmp_path / "review.xlsx"
    export_review(ModelFolder(tiny_model_dir), letters, out)
    book = load_workbook(out)
    sheet = book.active
    header = [c.value for c in sheet[1]]
    assert sheet.cell(2, header.index("text_masked") + 1).value == "村务财务多年不公开请查"  # \x0b: not in xlsx
    sheet.cell(2, header.index("corrected_sector") + 1).value = "城乡建设"
    sheet.cell(2, header.index("reviewer") + 1).value = "王审核"
    book.save(out)
    done = import_review(out, Settings(models_dir=tmp_path / "models", data_dir=tmp_path / "data"))
    got = json.loads(done.path.read_text(encoding="utf-8"))
    assert (got["id"], got["sector"], got["text"]) == ("X1", "urban_construction", "村务财务多年不公开\x0b请查")


def test_error_rows_to_stderr_only_with_results_to_stdout(settings: Settings, tmp_path: Path):  # noqa: F811
    src = excel_csv(tmp_path / "in.csv", ["id", "text", "submitter"], letter_rows(2))
    with pytest.raises(XinfangError, match="standard error only"):
        run(settings, src, tmp_path / "out.jsonl", errors=Path("-"))
    assert not (tmp_path / "-").exists()
