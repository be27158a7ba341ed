"""The evaluation report end to end on the tiny model: sections, masking, metrics.json, Chromium, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

PHONE = "13912345678"
ID_NUMBER = "110101199003074514"
SECTORS = ["城乡建设", "环境保护", "交通运输", "教育文体"]
SECTION_IDS = [
    "summary",
    "per-head",
    "calibration",
    "coverage",
    "confusions",
    "routed",
    "int8-fp32",
    "label-noise",
    "baseline",
    "comparison",
]


def labelled(split: str, n: int, seed: int) -> list:
    from xinfang.training.data import generated_letters

    letters = generated_letters(n, seed, split, 0.3)
    for i, x in enumerate(letters):
        x.labels["sector"] = SECTORS[i % len(SECTORS)]
        x.labels["abusive"] = i % 4 == 0
    return letters


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "letters.jsonl"
    letters = labelled("test", 16, 3)
    letters[0].text = f"本人实名举报，电话{PHONE}，身份证{ID_NUMBER}。" + letters[0].text
    path.write_text(
        "".join(
            json.dumps({"id": x.id, "text": x.text, **x.labels}, ensure_ascii=False) + "\n" for x in letters
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def report(tiny_model_dir: Path, data_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from xinfang.config import Settings
    from xinfang.evaluation.run import RunConfig, run_evaluation
    from xinfang.evaluation.training_data import TrainingData

    out = tmp_path_factory.mktemp("report")
    train = labelled("train", 32, 1)
    data = TrainingData(train=train[:24], dev=train[24:], sources={"generated": 24})
    cfg = RunConfig(model_ref=str(tiny_model_dir), data=data_file, against=str(tiny_model_dir), out_dir=out)
    return run_evaluation(cfg, settings=Settings(models_dir=out / "models"), baseline_data=data)


def test_report_has_every_section_and_no_network_assets(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    for sid in SECTION_IDS:
        assert f'<section id="{sid}">' in html, sid
    assert html.count("<svg") >= 11  # reliability + coverage per head, and the summary bars
    assert "违反廉洁纪律（integrity）" in html and "城乡建设（urban_construction）" in html
    assert not re.search(r"""(src|href)=["']https?:""", html) and "<link" not in html
    assert "<script src" not in html and 'class="sortable"' in html
    assert "TF-IDF" in html and "对照" in html


def test_report_masks_personal_data_and_metrics_json_has_no_text(report: Path, data_file: Path) -> None:
    html = report.read_text(encoding="utf-8")
    metrics_text = (report.parent / "metrics.json").read_text(encoding="utf-8")
    for secret in (PHONE, ID_NUMBER):
        assert secret not in html and secret not in metrics_text
    first = json.loads(data_file.read_text(encoding="utf-8").splitlines()[1])["text"]
    assert first[5:25] not in metrics_text


def test_metrics_json_figures(report: Path) -> None:
    m = json.loads((report.parent / "metrics.json").read_text(encoding="utf-8"))
    s = m["sets"][0]
    assert s["kind"] == "user" and s["n"] == 16
    assert set(s["heads"]) == {"topic", "sector", "credibility", "malicious", "abusive"}
    sector = s["heads"]["sector"]
    assert set(sector["metrics"]) == {"model", "fp32", "baseline", "against"}
    assert sector["regressions"] == []  # the same model on both sides
    assert sector["int8_vs_fp32"]["n"] == 16 and 0.0 <= sector["int8_vs_fp32"]["agreement"] <= 1.0
    assert sector["verdict"] in {"beats", "ties", "loses"}
    assert len(sector["coverage"]["model"]) == 21 and sector["reliability"]["baseline"]
    assert s["routing"]["n"] == 16 and s["routing"]["routed"] >= 1
    assert m["baseline"]["trained"] and m["baseline"]["n_train"] == 24


def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    from xinfang.evaluation.render import dump_dom, find_chromium, screenshot

    if find_chromium() is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    dom = dump_dom(report)
    ready = re.search(r'data-report-ready="(\d+)"', dom)
    assert ready and int(ready.group(1)) >= 10  # the inline script ran and made the tables sortable
    assert dom.count("<svg") >= 11 and dom.count('data-sortable="ready"') == int(ready.group(1))
    png = screenshot(report, tmp_path / "shot.png", 1000, 800)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_cli_evaluate_reports_unknown_class_and_head_with_row(tiny_model_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from xinfang.cli import app

    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "a", "text": "公交线路取消", "sector": "交通运输"}\n'
        '{"id": "b", "text": "工厂排污", "sector": "没有这个类"}\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    res = runner.invoke(
        app,
        ["evaluate", str(bad), "--model", str(tiny_model_dir), "-o", str(tmp_path / "o"), "--no-baseline"],
        env={"COLUMNS": "300"},
    )
    assert res.exit_code == 3, res.output  # unreadable input
    assert "bad.jsonl:2" in res.output and "没有这个类" in res.output and "sector" in res.output
    assert "Traceback" not in res.output
    bad.write_text('{"id": "a", "text": "公交线路取消", "mood": "angry"}\n', encoding="utf-8")
    res = runner.invoke(
        app,
        ["evaluate", str(bad), "--model", str(tiny_model_dir), "-o", str(tmp_path / "o")],
        env={"COLUMNS": "300"},
    )
    assert res.exit_code == 3 and "bad.jsonl:1" in res.output and "unknown head 'mood'" in res.output
    res = runner.invoke(
        app, ["evaluate", "--model", str(tiny_model_dir), "-o", str(tmp_path / "o")], env={"COLUMNS": "300"}
    )
    assert res.exit_code == 2 and "nothing to evaluate" in res.output


def test_default_report_puts_real_data_first(tiny_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    from xinfang.config import Settings
    from xinfang.evaluation.cv import transformer_sector_cv
    from xinfang.evaluation.run import write_default_report
    from xinfang.model_folder import ModelFolder
    from xinfang.training.profiles import get_profile

    settings = Settings(models_dir=tmp_path / "models")
    if not (Path(settings.shared_data_dir) / "tipdm2020" / "labeled.jsonl").is_file():
        pytest.skip("tipdm2020 data not present")
    folder = tmp_path / "models" / "tiny" / "v1"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model_card.json").write_text(
        json.dumps(
            {
                "name": "tiny",
                "version": "v1",
                "profile": get_profile("tiny").model_dump(),
                "data": {
                    "sources": {
                        "generated": {"kind": "generated"},
                        "tipdm2020": {"kind": "real"},
                        "cold": {"kind": "real"},
                    }
                },
            }
        ),
        encoding="utf-8",
    )
    path = write_default_report("tiny/v1", tmp_path / "rep", settings=settings, max_per_set=40)
    m = json.loads((path.parent / "metrics.json").read_text(encoding="utf-8"))
    assert [(s["name"], s["kind"], s["held_out"]) for s in m["sets"]] == [
        ("cold_dev", "real", True),
        ("tipdm2020_all", "real", False),
        ("generated_test", "generated", True),
    ]
    assert m["sets"][0]["n"] == 40 and "GENERATED" in m["sets"][2]["notes"][0]
    assert m["cv"]["baseline"]["n"] == 348 and m["cv"]["baseline"]["baseline"]["macro"]["f1"] > 0.3
    assert m["cv"]["transformer"] is None and m["baseline"]["sources"]["tipdm2020"] == 278
    assert m["training_label_issues"][0]["set"] == "tipdm2020_all"
    html = path.read_text(encoding="utf-8")
    assert "may have been seen in training" in html and "未找到结果文件" in html
    (folder / "cv_sector.json").write_text(
        json.dumps({"base": "e5", "folds": 5, "n": 348, "macro_f1": 0.61, "accuracy": 0.7}), encoding="utf-8"
    )
    cv = transformer_sector_cv(ModelFolder(folder))
    assert cv["macro_f1"] == 0.61 and cv["source"].endswith("cv_sector.json")


def test_report_links_letters_to_the_review_page_only_when_served(report: Path, tiny_model_dir: Path,
                                                                   tmp_path: Path) -> None:
    """Opened as a file the report stays self-contained (ids are plain text); served by the app at
    /review/reports/ a letter's id opens /review/letters/{id}."""
    import shutil

    from xinfang.evaluation.render import dump_dom, find_chromium

    if find_chromium() is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    from live_server import live_server, log_in

    from xinfang.config import Settings
    from xinfang.engine import Engine
    from xinfang.serving.app import create_app
    from xinfang.serving.keys import Role, create_key

    dom = dump_dom(report)
    assert 'data-review-links="0"' in dom and 'href="/review/letters/' not in dom
    assert 'class="review-link"' in dom
    settings = Settings(state_dir=tmp_path, models_dir=tmp_path / "models")
    shutil.copytree(report.parent, settings.reports_path / "run-1")
    key = create_key(settings.api_keys_path, "zhang", Role.reviewer)
    app = create_app(settings, engine=Engine(tiny_model_dir, precision="int8"))
    with live_server(app) as base, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        log_in(page, base, key, "/review/reports/")
        assert "run-1/report.html" in page.content()
        page.goto(f"{base}/review/reports/run-1/report.html")
        hrefs = page.eval_on_selector_all("a.review-link", "els => els.map(e => e.getAttribute('href'))")
        ids = page.eval_on_selector_all("a.review-link", "els => els.map(e => e.dataset.letter)")
        assert hrefs and hrefs == [f"/review/letters/{i}" for i in ids]
        assert page.get_attribute("body", "data-review-links") == str(len(hrefs))
        assert page.goto(f"{base}/review/reports/../api_keys").status == 404
        browser.close()
