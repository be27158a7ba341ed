"""Evaluation for evaluators: reports, TF-IDF baselines, cross-validation, the review loop (numpy metrics: xinfang.metrics)."""
