"""The choices of a batch job that the command line lists: where letters are scored, how results are written."""

from __future__ import annotations

from enum import StrEnum


class BatchEngine(StrEnum):
    """`local`: this machine (one process, or worker processes on more CPUs); `ray`: Engine actors on Ray (a local
    Ray, or --ray-address)."""

    local = "local"
    ray = "ray"


class OutputFormat(StrEnum):
    """JSON lines (the full result per line), or CSV with key columns and the full result."""

    jsonl = "jsonl"
    csv = "csv"
