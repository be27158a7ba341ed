"""Real letters in office files: jijian letters saved as Excel does (GB18030 CSV with a Chinese header, and xlsx),
plus one empty row, classified with a shipped model; every row must end in one result or one error row.

    .venv/bin/python benchmarks/office_files.py --n 300 --threads 1
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console

from xinfang.batch.job import ClassifyOptions, JobFiles, run_classify
from xinfang.batch.reader import Columns
from xinfang.config import get_settings
from xinfang.sources import JIJIAN_LETTERS, find_data_file
from xinfang.tables import write_table

HEADER = ["编号", "内容", "来信人"]


def office_files(folder: Path, n: int) -> tuple[Path, Path, int]:
    """The first n jijian letters and one empty row, as a GB18030 CSV (CRLF) and as an xlsx."""
    path = find_data_file(get_settings(), JIJIAN_LETTERS)
    if path is None:
        raise SystemExit("jijian letters not found (shared data folder)")
    records = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()][:n]
    rows = [[r["id"], f"{r.get('title') or ''}\n{r['text']}", r.get("submitter") or ""] for r in records]
    rows.append(["EMPTY-1", "", ""])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([HEADER, *rows])
    gb = folder / "letters_gb18030.csv"
    gb.write_bytes(buf.getvalue().encode("gb18030"))
    book = folder / "letters.xlsx"
    write_table(book, HEADER, [dict(zip(HEADER, r, strict=True)) for r in rows])
    return gb, book, len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="jijian letters")
    ap.add_argument("--model", default="current")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    settings = get_settings().with_overrides(threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        gb, book, rows = office_files(folder, args.n)
        labels = {}
        for src in (gb, book):
            out = folder / f"{src.name}.jsonl"
            t0 = time.perf_counter()
            report = run_classify(ClassifyOptions(input=src, output=out, model=args.model, progress=False,
                                                  columns=Columns(*HEADER)), settings, Console(quiet=True))
            results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
            errors = JobFiles.for_output(out).errors.read_text(encoding="utf-8").splitlines()
            labels[src.suffix] = [(r["id"], r["sector"]["label"], r["topic"]["labels"]) for r in results]
            print(f"{src.name}: {rows} rows -> {len(results)} results + {len(errors)} error rows "
                  f"({report['letters']}), {time.perf_counter() - t0:.1f} s")
            assert len(results) + len(errors) == rows
        same = labels[".csv"] == labels[".xlsx"]
        print(f"the same ids and labels from both files: {same}")


if __name__ == "__main__":
    main()
