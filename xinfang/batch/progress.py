"""A rich progress bar for the batch job: letters done of the estimated total, letters/s and ETA."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


def _rate(task: Task) -> float | None:
    """Letters per second since the bar started; rows already done by an earlier run (field `initial`) are
    left out, and so is the burst shape of Ray windows that a recent-speed window would exaggerate."""
    elapsed = task.elapsed or 0.0
    done = task.completed - task.fields.get("initial", 0)
    return done / elapsed if elapsed > 0 and done > 0 else None


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        rate = _rate(task)
        return Text(f"{rate:,.1f} letters/s" if rate else "– letters/s", style="progress.data.speed")


class EtaColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        rate = _rate(task)
        if task.total is None or not rate:
            return Text("ETA –:––:––", style="progress.remaining")
        left = max(0.0, task.total - task.completed) / rate
        return Text(f"ETA {timedelta(seconds=round(left))}", style="progress.remaining")


def make_progress(console: Console, enabled: bool = True) -> Progress:
    """Add the task with fields initial=<rows already done> so letters/s and ETA count this run only."""
    return Progress(TextColumn("[bold]classify[/]"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                    EtaColumn(), TimeElapsedColumn(), console=console, disable=not enabled)
