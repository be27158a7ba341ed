"""`xinfang where`: after a run (the end of `make run`), where the report and the classified backlog are and how
to serve the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from xinfang.config import Settings, get_settings
from xinfang.errors import XinfangError


def _report_lines(reports: Path) -> list[str]:
    report = reports / "report.html"
    if not report.is_file():
        return [f"report:  not written yet ({report}): .venv/bin/xinfang evaluate --default -o {reports}/"]
    return [f"report:  {report}  (open it in a browser; figures in {reports / 'metrics.json'})"]


def _backlog_lines(backlog: Path) -> list[str]:
    summary = Path(f"{backlog}.summary.json")
    if not backlog.is_file():
        return [f"backlog: not written yet ({backlog}): .venv/bin/xinfang classify --sample -o {backlog}"]
    try:
        about = json.loads(summary.read_text(encoding="utf-8"))
        n, run = about["letters"], about["this_run"]
        counts = (f" — {n['results']:,} results, {n['errors']:,} error rows; last run {run['scored']:,} letters "
                  f"in {run['seconds'] / 60:.1f} min")
    except (OSError, ValueError, KeyError, TypeError):
        counts = ""
    return [f"backlog: {backlog}{counts}",
            f"         error rows {backlog}.errors.jsonl, summary {summary}"]


def _serve_lines(settings: Settings) -> list[str]:
    from xinfang.model_folder import ModelFolder

    try:
        folder = ModelFolder.resolve(settings.models_dir, settings.serve_model)
        model = (f"{folder.name}/{folder.version}, "
                 f"{folder.resolve_precision(settings.serve_precision.value)}")
    except (XinfangError, OSError, ValueError):
        model = f"'{settings.serve_model}' is not there yet: train one first"
    url = f"http://{settings.serve_host}:{settings.serve_port}"
    keys = settings.api_keys_path
    try:
        from xinfang.serving.keys import read_keys

        n_keys = len(read_keys(keys))
    except (ImportError, XinfangError, OSError, ValueError):
        n_keys = 0
    have = f"{n_keys} key(s) in {keys}" if n_keys else f"no key yet in {keys}"
    return [f"serve:   model {model}; {have}",
            "         KEY=$(.venv/bin/xinfang apikey create --label me)   # a new key, shown only this once",
            f"         .venv/bin/xinfang serve                         # {url}, API docs at {url}/docs",
            f"         curl -s {url}/v1/letters:score -H \"Authorization: Bearer $KEY\" "
            "-H 'Content-Type: application/json' -d '{\"id\": \"A1\", \"text\": \"...\"}'"]


def where_to_look(settings: Settings, reports: Path, backlog: Path) -> list[str]:
    """The lines `xinfang where` prints: the report, the backlog output, how to serve."""
    return ["Where to look:", *_report_lines(reports), *_backlog_lines(backlog), *_serve_lines(settings)]


def where_cmd(
    reports: Annotated[Path, typer.Option(help="folder of the evaluation report")] = Path("reports"),
    backlog: Annotated[Path, typer.Option(help="output of the backlog job")] = Path("output/backlog.jsonl"),
) -> None:
    """Where a run's report and classified backlog are, and how to serve the model (the end of `make run`)."""
    for line in where_to_look(get_settings(), reports, backlog):
        typer.echo(line)
