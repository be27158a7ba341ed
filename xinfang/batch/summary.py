"""The run summary: classes per head, routing, errors by reason, near-copy clusters and repeat submitters
(ids and counts only), as a JSON-ready dict and as rich tables."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from xinfang.batch.dedup import RunDuplicates
from xinfang.result import (
    BinaryAnswer,
    LetterResult,
    MultiLabelAnswer,
    NearDuplicateIndicator,
    SingleLabelAnswer,
)
from xinfang.routing import reason_head
from xinfang.schema import Schema

LARGEST = 10  # clusters / submitter counts shown
IDS_SHOWN = 10  # ids shown per cluster


class Summary:
    """Counts over every row in the output and error files, previous runs included."""

    def __init__(self, schema: Schema):
        self.heads: dict[str, Counter[str]] = {h.name: Counter() for h in schema.heads}
        self.results = 0
        self.human = 0
        self.human_by_head: Counter[str] = Counter()
        self.mass_copies = 0
        self.errors: Counter[str] = Counter()
        self.now: Counter[str] = Counter()  # this run: scored, errors, skipped

    def add_result(self, result: LetterResult, now: bool = False) -> None:
        self.results += 1
        self.now["scored"] += now
        for head, counts in self.heads.items():
            answer = result.heads.get(head)
            if isinstance(answer, SingleLabelAnswer):
                counts[answer.label] += 1
            elif isinstance(answer, MultiLabelAnswer):
                counts.update(answer.labels or ["(none)"])
            elif isinstance(answer, BinaryAnswer):
                counts["yes" if answer.flag else "no"] += 1
        if result.route.decision == "human":
            self.human += 1
            self.human_by_head.update({reason_head(r) for r in result.route.reasons})
        self.mass_copies += any(isinstance(s, NearDuplicateIndicator) for s in result.spans())

    def add_error(self, reason: str, now: bool = False) -> None:
        self.errors[reason] += 1
        self.now["errors"] += now

    def skipped(self, n: int = 1) -> None:
        self.now["skipped"] += n

    def report(self, dups: RunDuplicates, seconds: float, **about: Any) -> dict:
        clusters = dups.clusters()
        repeats = dups.repeat_counts()
        errors = sum(self.errors.values())
        done_now = self.now["scored"] + self.now["errors"]
        return {
            **about,
            "letters": {"total": self.results + errors, "results": self.results, "errors": errors},
            "this_run": {"scored": self.now["scored"], "errors": self.now["errors"],
                         "skipped_already_done": self.now["skipped"], "seconds": round(seconds, 2),
                         "letters_per_second": round(done_now / seconds, 2) if seconds > 0 else None},
            "heads": {h: dict(c.most_common()) for h, c in self.heads.items()},
            "route": {"human": self.human, "auto": self.results - self.human,
                      "human_reasons_by_head": dict(self.human_by_head.most_common())},
            "errors_by_reason": dict(self.errors.most_common()),
            "near_duplicates": {
                "threshold": dups.threshold, "clusters": len(clusters),
                "letters_in_clusters": sum(len(c) for c in clusters),
                "largest": [{"size": len(c), "ids": c[:IDS_SHOWN]} for c in clusters[:LARGEST]],
                "mass_copy_indicators": self.mass_copies},
            "repeat_submitters": {"submitters": len(repeats), "letters": sum(repeats),
                                  "largest": repeats[:LARGEST]},
        }


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    for i, c in enumerate(columns):
        table.add_column(c, justify="right" if i else "left")
    return table


def render(report: dict, console: Console) -> None:
    """Print a summary produced by Summary.report."""
    letters, run = report["letters"], report["this_run"]
    rate = f", {run['letters_per_second']:,} letters/s" if run["letters_per_second"] else ""
    console.print(f"[bold]{letters['total']:,}[/] letters: [green]{letters['results']:,} scored[/], "
                  f"[red]{letters['errors']:,} errors[/]. This run: {run['scored']:,} scored, "
                  f"{run['errors']:,} errors, {run['skipped_already_done']:,} already done, "
                  f"{run['seconds']:,} s{rate}.")
    if report.get("span_texts") == "unmasked":
        console.print("[bold yellow]span texts unmasked[/]: the output quotes personal data (ID and phone "
                      "numbers, names) in evidence spans as written (--unmasked-spans)")
    for head, counts in report["heads"].items():
        table = _table(head, "class", "letters")
        for cls, n in counts.items():
            table.add_row(cls, f"{n:,}")
        console.print(table)
    route = report["route"]
    table = _table(f"routed to a person: {route['human']:,} of {route['human'] + route['auto']:,}",
                   "head", "letters")
    for head, n in route["human_reasons_by_head"].items():
        table.add_row(head, f"{n:,}")
    console.print(table)
    if report["errors_by_reason"]:
        table = _table("errors", "reason", "rows")
        for reason, n in report["errors_by_reason"].items():
            table.add_row(reason, f"{n:,}")
        console.print(table)
    nd = report["near_duplicates"]
    table = _table(f"near-duplicate clusters (Jaccard ≥ {nd['threshold']}): {nd['clusters']:,}, "
                   f"{nd['letters_in_clusters']:,} letters, {nd['mass_copy_indicators']:,} flagged as mass "
                   "copies",
                   "size", "ids")
    for c in nd["largest"]:
        table.add_row(str(c["size"]), ", ".join(c["ids"]) + (" …" if c["size"] > len(c["ids"]) else ""))
    console.print(table)
    rs = report["repeat_submitters"]
    console.print(f"[bold]repeat submitters[/]: {rs['submitters']:,} wrote {rs['letters']:,} letters; "
                  f"most prolific: {', '.join(map(str, rs['largest'])) or '–'}")
