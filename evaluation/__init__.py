"""Evaluation: metrics, baselines and confusion reports for evaluators."""
