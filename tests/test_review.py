"""Review loop: export letters worth a look, fill corrections, import them back with provenance."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from xinfang.errors import InputFileError

PHONE = "13712345678"


@pytest.fixture()
def letters_file(tmp_path: Path) -> Path:
    rows = [
        {
            "id": "L1",
            "text": f"本人实名举报，电话{PHONE}。某村支书在2019年3月收受工程老板红包5万元。",
            "sector": "城乡建设",
            "topic": ["integrity"],
            "abusive": 0,
        },
        {
            "id": "L2",
            "text": "小区旁边工厂排放污水，河水发黑，环保部门不管。",
            "sector": "环境保护",
            "abusive": 0,
        },
        {"id": "L3", "text": "公交线路取消后居民出行不便，希望恢复。", "sector": "交通运输"},
        {"id": "L4", "text": "学校乱收费，校长收受家长红包。", "sector": "教育文体", "malicious": 0},
    ]
    path = tmp_path / "letters.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def write_csv(path: Path, fields: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def test_review_round_trip_with_provenance(tiny_model_dir: Path, letters_file: Path, tmp_path: Path) -> None:
    from xinfang.config import Settings
    from xinfang.evaluation.review import export_review, import_review, sha256_text
    from xinfang.labels import read_labelled
    from xinfang.model_folder import ModelFolder
    from xinfang.schema import load_schema
    from xinfang.sources import review_files

    folder = ModelFolder(tiny_model_dir)
    out = tmp_path / "review.csv"
    res = export_review(folder, letters_file, out)
    assert res.n_letters == 4 and res.n_rows == 4  # random tiny model: every letter is below 0.5 somewhere
    fields, rows = read_csv(out)
    for col in (
        "id",
        "reasons",
        "text_masked",
        "label_sector",
        "pred_sector",
        "probs_sector",
        "corrected_sector",
        "corrected_topic",
        "reviewer",
        "model",
        "text_sha256",
    ):
        assert col in fields
    by_id = {r["id"]: r for r in rows}
    assert PHONE not in out.read_text(encoding="utf-8-sig") and "〔手机号〕" in by_id["L1"]["text_masked"]
    assert by_id["L1"]["label_sector"] == "urban_construction" and by_id["L1"]["label_topic"] == "integrity"
    assert by_id["L1"]["model"] == "tiny/v0" and by_id["L1"]["reasons"]
    assert any(r["reasons"].startswith(("confusion", "low confidence", "suspected")) for r in rows)

    by_id["L1"].update(
        corrected_sector="劳动和社会保障", corrected_topic="integrity|duty_crime", reviewer="王审核"
    )
    by_id["L2"].update(corrected_abusive="0")
    write_csv(out, fields, rows)
    settings = Settings(models_dir=tmp_path / "models", data_dir=tmp_path / "data")
    with pytest.raises(InputFileError, match="reviewer") as err:  # L2 has a correction but no reviewer
        import_review(out, settings)
    line_of = {r["id"]: n + 2 for n, r in enumerate(rows)}  # header is line 1
    assert err.value.line == line_of["L2"]
    done = import_review(out, settings, reviewer="李复核")
    assert done.n_letters == 2 and done.masked_text == 0 and done.reviewers == ["李复核", "王审核"]
    assert review_files(settings) == [done.path] and done.path.parent == tmp_path / "data" / "reviews"

    imported = {x.id: x for x in read_labelled(done.path, load_schema())}
    l1 = imported["L1"]
    assert l1.source == "review"
    assert l1.labels == {"sector": "labour_social_security", "topic": ["integrity", "duty_crime"]}
    assert (
        PHONE in l1.text and sha256_text(l1.text) == by_id["L1"]["text_sha256"]
    )  # original text for training
    prov = l1.extra["provenance"]
    assert prov["reviewer"] == "王审核" and prov["model"] == "tiny/v0" and prov["text"] == "original"
    assert prov["previous"] == {"sector": "urban_construction", "topic": "integrity"}
    assert prov["review_file"] == "review.csv" and prov["row"] == line_of["L1"] and prov["imported_at"]
    assert (
        imported["L2"].labels == {"abusive": False}
        and imported["L2"].extra["provenance"]["reviewer"] == "李复核"
    )
    again = import_review(out, settings, reviewer="李复核")
    assert review_files(settings) == [again.path]  # the same file imported twice is not duplicated
    # the reviews folder is a real setting (XINFANG_REVIEWS_DIR), read by import and by training alike
    elsewhere = Settings(models_dir=tmp_path / "models", data_dir=tmp_path / "data", reviews_dir=tmp_path / "rev")
    moved = import_review(out, elsewhere, reviewer="李复核")
    assert moved.path.parent == tmp_path / "rev" and review_files(elsewhere) == [moved.path]


def test_review_import_errors_name_row_and_value(
    tiny_model_dir: Path, letters_file: Path, tmp_path: Path
) -> None:
    from xinfang.config import Settings
    from xinfang.evaluation.review import export_review, import_review
    from xinfang.model_folder import ModelFolder

    out = tmp_path / "review.csv"
    export_review(ModelFolder(tiny_model_dir), letters_file, out)
    fields, rows = read_csv(out)
    settings = Settings(models_dir=tmp_path / "models", data_dir=tmp_path / "data")
    rows[1].update(corrected_sector="火星事务", reviewer="x")
    write_csv(out, fields, rows)
    with pytest.raises(InputFileError, match="火星事务") as err:
        import_review(out, settings)
    assert err.value.line == 3 and err.value.field == "corrected_sector"
    rows[1].update(corrected_sector="环境保护")
    write_csv(out, [*fields, "corrected_mood"], rows)
    with pytest.raises(InputFileError, match="unknown head 'mood'"):
        import_review(out, settings)
    # the source file is gone: the masked text is used and marked as such
    write_csv(out, fields, rows)
    letters_file.unlink()
    done = import_review(out, settings)
    assert done.masked_text == 1
    record = json.loads(done.path.read_text(encoding="utf-8").splitlines()[0])
    assert record["provenance"]["text"] == "masked" and record["sector"] == "environment"


def test_review_cli_export_and_import(tiny_model_dir: Path, letters_file: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from xinfang.cli import app

    runner = CliRunner()
    out = tmp_path / "r.csv"
    res = runner.invoke(
        app,
        ["review", "export", str(letters_file), "--model", str(tiny_model_dir), "-o", str(out)],
        env={"COLUMNS": "300"},
    )
    assert res.exit_code == 0, res.output
    fields, rows = read_csv(out)
    rows[0].update(corrected_sector="卫生计生")
    write_csv(out, fields, rows)
    res = runner.invoke(
        app,
        ["review", "import", str(out), "--reviewer", "张", "--out-dir", str(tmp_path / "rev")],
        env={"COLUMNS": "300"},
    )
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "rev").glob("*.jsonl"))) == 1
    rows[0].update(corrected_sector="不存在")
    write_csv(out, fields, rows)
    res = runner.invoke(app, ["review", "import", str(out), "--reviewer", "张"], env={"COLUMNS": "300"})
    assert res.exit_code == 3 and "r.csv:2" in res.output and "不存在" in res.output  # unreadable input


def test_select_uncertain_picks_least_sure_letters_and_rare_predictions() -> None:
    import numpy as np

    from xinfang.evaluation.uncertainty import select_uncertain
    from xinfang.schema import Schema, load_schema

    full = load_schema()
    schema = Schema(name="two", heads=[full.head("sector"), full.head("malicious")])
    sector = np.tile(np.eye(7)[0] * 0.9 + 0.1 / 7, (30, 1))
    sector[3] = [0.3, 0.29, 0.11, 0.1, 0.1, 0.05, 0.05]  # letter 3: two classes nearly tied
    malicious = np.full((30, 1), 0.05)
    malicious[7] = 0.97  # letter 7: the only letter flagged, a rare prediction
    calibration = {"malicious": {"decision_thresholds": [0.5]}}
    picked = select_uncertain(schema, {"sector": sector, "malicious": malicious}, calibration, 2)
    assert [i for i, _ in picked] == [7, 3]
    assert "malicious=malicious" in picked[0][1] and "sector" in picked[1][1]


def test_review_cli_select_uncertain(tiny_model_dir: Path, letters_file: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from xinfang.cli import app

    out = tmp_path / "u.csv"
    args = ["review", "export", str(letters_file), "--model", str(tiny_model_dir), "-o", str(out)]
    res = CliRunner().invoke(app, [*args, "--select", "uncertain", "2"], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    _, rows = read_csv(out)
    assert len(rows) == 2 and all(r["reasons"].startswith(("uncertain", "rare prediction")) for r in rows)
    res = CliRunner().invoke(app, [*args, "--select", "random", "2"], env={"COLUMNS": "300"})
    assert res.exit_code != 0
