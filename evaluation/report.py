"""Render an evaluation result as one self-contained HTML report (jinja2, inline SVG) plus metrics.json."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from xinfang.evaluation.letter_view import masked_letter_html
from xinfang.evaluation.plots import bars_svg, coverage_svg, reliability_svg
from xinfang.labels import LabelledLetter
from xinfang.schema import Head, HeadKind, Schema

KIND_ZH = {"real": "真实数据", "generated": "生成数据", "user": "用户数据"}
VERDICT_ZH = {"beats": "优于基线", "ties": "与基线持平", "loses": "不如基线", "": "无基线"}
ROLE_ZH = {"model": "模型 int8", "fp32": "模型 fp32", "baseline": "TF-IDF 基线", "against": "对照模型"}
FIGURES = [
    ("accuracy", ("accuracy",)),
    ("macro-P", ("macro", "precision")),
    ("macro-R", ("macro", "recall")),
    ("macro-F1", ("macro", "f1")),
    ("micro-P", ("micro", "precision")),
    ("micro-R", ("micro", "recall")),
    ("micro-F1", ("micro", "f1")),
    ("ECE", ("ece",)),
]
SECTIONS = [
    ("summary", "摘要 Summary"),
    ("per-head", "分任务指标 Per head"),
    ("calibration", "校准 Calibration"),
    ("coverage", "自动分流覆盖率 Coverage"),
    ("confusions", "主要混淆 Confusions"),
    ("routed", "转人工 Routed to a human"),
    ("int8-fp32", "int8 与 fp32"),
    ("label-noise", "疑似标注错误 Label noise"),
    ("baseline", "基线对比 Baseline"),
    ("comparison", "模型对比 Model comparison"),
]


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def pct(value: Any) -> str:
    return "—" if value is None else f"{100 * float(value):.1f}%"


def get(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def class_name(head: Head | None, cid: str | None) -> str:
    """'中文名（id）' for a class id; 'not X' becomes '非中文名（not id）'."""
    if cid is None:
        return "—"
    neg = cid.startswith("not ")
    base = cid[4:] if neg else cid
    zh = next((c.zh for c in head.classes if c.id == base), None) if head else None
    if zh is None:
        return cid
    return f"非{zh}（not {base}）" if neg else f"{zh}（{base}）"


class _Views:
    """Letter views, rendered once each (masking and signal extraction cost ~20 ms a letter)."""

    def __init__(self, letters: dict[str, dict[str, LabelledLetter]], schema: Schema):
        self.letters = letters
        self.schema = schema
        self.cache: dict[tuple[str, str], dict | None] = {}

    def __call__(self, set_name: str, letter_id: str) -> dict | None:
        key = (set_name, letter_id)
        if key not in self.cache:
            self.cache[key] = self._render(set_name, letter_id)
        return self.cache[key]

    def _render(self, set_name: str, letter_id: str) -> dict | None:
        x = self.letters.get(set_name, {}).get(letter_id)
        if x is None:
            return None
        labels = []
        for h, v in x.labels.items():
            head = self.schema.by_name.get(h)
            if isinstance(v, bool):
                labels.append(f"{h}: {'是' if v else '否'}")
            elif isinstance(v, list):
                labels.append(f"{h}: " + ("、".join(class_name(head, c) for c in v) if v else "（无）"))
            else:
                labels.append(f"{h}: {class_name(head, v)}")
        return {"id": x.id, "source": x.source, "labels": labels, **masked_letter_html(x.text, self.schema)}


def _confusion_table(head: Head, matrix: list[list[int]] | None) -> dict | None:
    if not matrix:
        return None
    if head.kind is HeadKind.binary:
        names, short = ["否", "是"], ["否", "是"]
    else:
        names, short = [class_name(head, c) for c in head.class_ids], [c.zh for c in head.classes]
    total = max((v for row in matrix for v in row), default=1) or 1
    rows = [
        {
            "name": names[i],
            "cells": [
                {"v": v, "diag": i == j, "alpha": round(0.04 + 0.8 * v / total, 3)} for j, v in enumerate(row)
            ],
        }
        for i, row in enumerate(matrix)
    ]
    return {"names": names, "short": short, "rows": rows}


def _head_block(s: dict, name: str, h: dict, schema: Schema, views: _Views) -> dict:
    head = schema.head(name)
    roles = [r for r in ("model", "fp32", "baseline", "against") if r in h["metrics"]]
    exact = "accuracy（所有类别完全一致）" if head.kind is HeadKind.multi_label else "accuracy"
    metrics_rows = [
        {
            "figure": exact if label == "accuracy" else label,
            "vals": [get(h["metrics"][r], path) for r in roles],
        }
        for label, path in FIGURES
    ]
    per_class = []
    for cid, row in h["metrics"]["model"].get("per_class", {}).items():
        per_class.append(
            {
                "name": class_name(head, cid),
                "support": row["support"],
                "p": row["precision"],
                "r": row["recall"],
                "f1": row["f1"],
                "others": [get(h["metrics"][r], ("per_class", cid, "f1")) for r in roles[1:]],
            }
        )
    confusions = []
    for c in h.get("confusions", []):
        what = {
            "confused": f"{class_name(head, c['true'])} → 误判为 {class_name(head, c['pred'])}",
            "missed": f"漏判 {class_name(head, c['true'])}",
            "extra": f"误报 {class_name(head, c['pred'])}",
        }[c["kind"]]
        confusions.append(
            {
                "what": what,
                "count": c["count"],
                "letters": [v for v in (views(s["name"], i) for i in c["letters"]) if v],
            }
        )
    issues = [
        {
            **d,
            "given_name": class_name(head, d["given"]),
            "suggested_name": class_name(head, d["suggested"]),
            "view": views(s["name"], d["id"]),
        }
        for d in h.get("label_issues", [])
    ]
    rel = {r: b for r, b in h["reliability"].items() if r in ("model", "baseline", "against")}
    cov = {r: c for r, c in h["coverage"].items() if r in ("model", "baseline", "against")}
    return {
        "key": f"{s['name']}-{name}",
        "set": s,
        "head": head,
        "h": h,
        "roles": roles,
        "role_names": [ROLE_ZH[r] for r in roles],
        "metrics_rows": metrics_rows,
        "per_class": per_class,
        "confusion": _confusion_table(head, h["metrics"]["model"].get("confusion")),
        "confusion_baseline": _confusion_table(head, get(h["metrics"], ("baseline", "confusion"))),
        "reliability_svg": reliability_svg(rel, f"{name} · {s['name']}"),
        "coverage_svg": coverage_svg(cov, get(h, ("route", "threshold")), f"{name} · {s['name']}"),
        "coverage_rows": [c for c in h["coverage"]["model"] if round(c["threshold"] * 20) % 2 == 0],
        "confusions": confusions,
        "issues": issues,
    }


def build_context(result: dict, letters: dict[str, dict[str, LabelledLetter]], schema: Schema) -> dict:
    """Everything the template shows, with plots rendered and letters masked."""
    views = _Views(letters, schema)
    blocks = [
        _head_block(s, name, h, schema, views) for s in result["sets"] for name, h in s["heads"].items()
    ]
    summary_rows = [
        {
            "set": b["set"],
            "head": b["head"],
            "h": b["h"],
            "model_f1": get(b["h"], ("metrics", "model", "macro", "f1")),
            "baseline_f1": get(b["h"], ("metrics", "baseline", "macro", "f1")),
            "against_f1": get(b["h"], ("metrics", "against", "macro", "f1")),
            "verdict": VERDICT_ZH.get(b["h"].get("verdict", ""), ""),
            "verdict_key": b["h"].get("verdict", ""),
        }
        for b in blocks
    ]
    series: dict[str, list] = {"model": [r["model_f1"] for r in summary_rows]}
    if any(r["baseline_f1"] is not None for r in summary_rows):
        series["baseline"] = [r["baseline_f1"] for r in summary_rows]
    if result.get("against"):
        series["against"] = [r["against_f1"] for r in summary_rows]
    labels = [
        f"{r['head'].name}·{r['set']['name']}" + (" (gen)" if r["set"]["kind"] == "generated" else "")
        for r in summary_rows
    ]
    summary_svg = (
        bars_svg(labels, series, "macro-F1", "model vs baseline (real data first)") if blocks else ""
    )
    routing = [
        {
            "set": s,
            "r": s["routing"],
            "letters": [{**x, "view": views(s["name"], x["id"])} for x in s["routing"]["letters"]],
        }
        for s in result["sets"]
    ]
    training_noise = []
    for t in result.get("training_label_issues", []):
        head = schema.by_name.get(t.get("head", "sector"))
        training_noise.append(
            {
                **t,
                "items": [
                    {
                        **d,
                        "given_name": class_name(head, d["given"]),
                        "suggested_name": class_name(head, d["suggested"]),
                        "view": views(t["set"], d["id"]),
                    }
                    for d in t["label_issues"]
                ],
            }
        )
    cv = result.get("cv") or {}
    cv_svg = ""
    if cv.get("baseline") or cv.get("transformer"):
        tr = cv.get("transformer") or {}
        cv_svg = bars_svg(
            ["macro-F1", "accuracy"],
            {
                "model": [tr.get("macro_f1"), tr.get("accuracy")],
                "baseline": [
                    get(cv, ("baseline", "baseline", "macro", "f1")),
                    get(cv, ("baseline", "baseline", "accuracy")),
                ],
            },
            "score",
            "tipdm2020 sector, k-fold CV (real)",
        )
    cv_classes = []
    sector = schema.by_name.get("sector")
    for cid, row in (get(cv, ("baseline", "baseline", "per_class")) or {}).items():
        cv_classes.append({"name": class_name(sector, cid), **row})
    return {
        "r": result,
        "sections": SECTIONS,
        "blocks": blocks,
        "summary_rows": summary_rows,
        "summary_svg": summary_svg,
        "routing": routing,
        "training_noise": training_noise,
        "cv": cv,
        "cv_svg": cv_svg,
        "cv_classes": cv_classes,
        "kind_zh": KIND_ZH,
        "role_zh": ROLE_ZH,
    }


def render_html(context: dict) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("xinfang.evaluation", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update({"fmt": fmt, "pct": pct})
    return env.get_template("report.html.j2").render(**context)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_report(
    result: dict, letters: dict[str, dict[str, LabelledLetter]], schema: Schema, out_dir: Path
) -> Path:
    """Write out_dir/report.html and out_dir/metrics.json (figures and letter ids only, no text)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=1, default=_jsonable), encoding="utf-8"
    )
    html = render_html(build_context(result, letters, schema))
    path = out_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
