"""One evaluation run: per set and head, metrics, curves, confusions, routing and label issues for the
model, its fp32 graph, the TF-IDF baseline and optionally another model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xinfang.evaluation.compare import agreement, regressions, side_by_side, verdict
from xinfang.evaluation.confusions import top_confusions
from xinfang.evaluation.curves import (
    at_threshold,
    calibration_points,
    coverage_curve,
    letter_confidence_correct,
    reliability_bins,
)
from xinfang.evaluation.label_noise import head_label_issues
from xinfang.evaluation.real_metrics import span_overlap
from xinfang.evaluation.routing import route_letters
from xinfang.evaluation.sets import EvalSet
from xinfang.heads import target_matrix
from xinfang.metrics import head_metrics
from xinfang.schema import Head


@dataclass
class Options:
    """Tolerances and list lengths of a run."""

    tolerance: float = 0.02
    class_tolerance: float = 0.05
    min_support: int = 3
    bins: int = 10
    confusions: int = 8
    letters_per_confusion: int = 3
    list_limit: int = 15


def _same_head(a: Head | None, b: Head) -> bool:
    return a is not None and a.kind == b.kind and a.class_ids == b.class_ids


def evaluate_head(
    head: Head,
    y: np.ndarray,
    ids: list[str],
    probs: dict[str, np.ndarray],
    predictors: dict[str, Any],
    held_out: bool,
    opts: Options,
) -> dict:
    """Everything the report shows about one head on one set; `probs` has one matrix per predictor role
    (rows = the letters labelled for this head, in `ids` order)."""
    model = predictors["model"]
    out: dict[str, Any] = {
        "head": head.name,
        "kind": head.kind.value,
        "n": int(len(y)),
        "metrics": {},
        "reliability": {},
        "coverage": {},
        "notes": [],
    }
    for role, p in probs.items():
        thr = predictors[role].thresholds(head.name)
        out["metrics"][role] = head_metrics(head, y, p, thr)
        conf, correct = calibration_points(head, y, p, thr)
        out["reliability"][role] = reliability_bins(conf, correct, opts.bins)
        lconf, lcorrect = letter_confidence_correct(head, y, p, thr)
        out["coverage"][role] = coverage_curve(lconf, lcorrect)
        if role == "model":
            route_t = model.route_threshold(head.name)
            errors = ~lcorrect
            routed_err = int((errors & (lconf < route_t)).sum()) if route_t is not None else 0
            out["route"] = {
                "threshold": route_t,
                "at": at_threshold(lconf, lcorrect, route_t),
                "errors": int(errors.sum()),
                "errors_routed": routed_err,
            }
    m = out["metrics"]["model"]
    out["verdict"] = verdict(m, out["metrics"].get("baseline"))
    if "fp32" in probs:
        out["int8_vs_fp32"] = agreement(head, probs["model"], probs["fp32"], model.thresholds(head.name))
    if "against" in probs:
        ref = out["metrics"]["against"]
        out["regressions"] = regressions(m, ref, opts.tolerance, opts.class_tolerance, opts.min_support)
        out["against_rows"] = side_by_side(m, ref)
    conf_list = top_confusions(head, y, probs["model"], model.thresholds(head.name), opts.confusions)
    for c in conf_list:
        c["letters"] = [ids[r] for r in c.pop("rows")[: opts.letters_per_confusion]]
    out["confusions"] = conf_list
    if held_out:
        issues = head_label_issues(head, y, probs["model"])
        out["label_issues"] = [
            {**{k: v for k, v in d.items() if k != "row"}, "id": ids[d["row"]]}
            for d in issues[: opts.list_limit]
        ]
        out["label_issues_total"] = len(issues)
    else:
        out["label_issues"] = []
        out["notes"].append("label issues are not computed here: the model may have seen these letters")
    return out


def evaluate_set(es: EvalSet, predictors: dict[str, Any], opts: Options) -> dict:
    """Run every predictor over one set once and evaluate each head that has labels in it."""
    texts = [x.text for x in es.letters]
    ids = [x.id for x in es.letters]
    all_probs = {role: pr.probabilities(texts) for role, pr in predictors.items()}
    model = predictors["model"]
    out = es.summary()
    out["heads"] = {}
    for head in model.schema.heads:
        rows = [i for i, x in enumerate(es.letters) if head.name in x.labels]
        if not rows:
            continue
        y = target_matrix(head, [es.letters[i].labels[head.name] for i in rows])
        probs: dict[str, np.ndarray] = {}
        roles: dict[str, Any] = {}
        for role, pr in predictors.items():
            if role in ("model", "fp32") or _same_head(pr.head(head.name), head):
                probs[role] = all_probs[role][head.name][rows]
                roles[role] = pr
        h = evaluate_head(head, y, [ids[i] for i in rows], probs, roles, es.held_out, opts)
        for role in predictors:
            if role not in probs:
                h["notes"].append(f"{role}: no comparable '{head.name}' head (missing or other classes)")
        out["heads"][head.name] = h
    out["routing"] = route_letters(model.schema, model.folder.calibration, ids, all_probs["model"], opts.list_limit)
    # hand-annotated spans ({signal: {text, start, end}}, as jijian has them): how well the evidence quotes them
    spanned = [x for x in es.letters if isinstance((x.extra or {}).get("spans"), dict) and "credibility" in x.labels]
    if spanned and hasattr(model, "evidence"):
        out["credibility_spans"] = {**span_overlap(spanned, model.evidence([x.id for x in spanned],
                                                                           [x.text for x in spanned])),
                                    "n": len(spanned)}
    return out


def evaluate(sets: list[EvalSet], predictors: dict[str, Any], opts: Options | None = None) -> list[dict]:
    """Evaluate every set (in the given order); predictors: roles model, fp32, baseline, against."""
    opts = opts or Options()
    return [evaluate_set(s, predictors, opts) for s in sets]
