"""Calibration of the primary-class ranking on dev letters with a hand-labelled primary."""

from __future__ import annotations

import numpy as np

from xinfang.schema import load_schema
from xinfang.training.calibrate import fit_primary


def test_fit_primary_corrects_a_common_class_that_outranks_a_rare_one():
    head = load_schema().head("topic")
    ids = head.class_ids
    rng = np.random.default_rng(0)
    work, duty = ids.index("work"), ids.index("duty_crime")
    probs, y, gold = [], [], []
    for i in range(200):
        p = np.full(len(ids), 0.02)
        row = np.zeros(len(ids))
        if i % 5 == 0:  # a duty-crime letter: both classes chosen, but work is a little likelier (it is common)
            p[[work, duty]] = [0.7 + rng.uniform(0, 0.05), 0.6]
            row[[work, duty]] = 1
            gold.append("duty_crime")
        else:
            p[work] = 0.8
            p[duty] = 0.05
            row[work] = 1
            gold.append("work")
        probs.append(p)
        y.append(row)
    probs, y = np.array(probs), np.array(y)
    thresholds = [0.5] * len(ids)
    fitted = fit_primary(head, probs, y, gold, thresholds)
    assert fitted["alpha"] > 0 and fitted["dev_macro_f1"] == 1.0
    assert fitted["n_dev"] == 200 and len(fitted["log_prior"]) == len(ids)
    # with nothing to correct, no correction is chosen
    plain = fit_primary(head, probs, y, ["work" if g == "duty_crime" else g for g in gold], thresholds)
    assert plain["alpha"] == 0.0


def test_fit_primary_never_trades_accuracy_for_macro_f1():
    head = load_schema().head("topic")
    ids = head.class_ids
    work, duty = ids.index("work"), ids.index("duty_crime")
    probs, y, gold = [], [], []
    for i in range(100):
        p = np.full(len(ids), 0.02)
        row = np.zeros(len(ids))
        if i < 80:  # plain work letters
            p[[work, duty]] = [0.8, 0.05]
            row[work] = 1
            gold.append("work")
        else:  # both chosen, work a little likelier: 12 are work, 8 duty crime
            p[[work, duty]] = [0.7, 0.6]
            row[[work, duty]] = [1, 1] if i >= 92 else [1, 0]
            gold.append("duty_crime" if i >= 92 else "work")
        probs.append(p)
        y.append(row)
    probs, y = np.array(probs), np.array(y)
    # correcting for priors makes duty crime primary in all 20: macro-F1 0.48 -> 0.75, accuracy 0.92 -> 0.88
    unbounded = fit_primary(head, probs, y, gold, [0.5] * len(ids), max_accuracy_loss=1.0)
    assert unbounded["alpha"] > 0 and unbounded["dev_macro_f1"] > 0.7
    assert fit_primary(head, probs, y, gold, [0.5] * len(ids))["alpha"] == 0.0
