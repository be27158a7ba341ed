"""`xinfang classify`: a file of letters (or standard input) scored into results and error rows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xinfang.batch.choices import BatchEngine, OutputFormat
from xinfang.cli_support import EncodingOption, ExitCode, console, fail
from xinfang.errors import XinfangError
from xinfang.precision import Precision
from xinfang.tables import TableFormat


def classify_cmd(
    input_paths: Annotated[list[Path] | None, typer.Argument(
        metavar="INPUT", help="letters: JSONL, CSV, TSV or xlsx (by suffix, else sniffed); '-' reads standard "
        "input (not resumable). Or scanned letters (the ocr extra): a folder or several PNG, JPEG, TIFF or PDF "
        "files, one letter each, id = the file name")] = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="results, JSONL or CSV (by suffix; a CSV file starts with a byte order mark for "
        "Excel); '-' writes standard output, error rows then go to standard error (not resumable)")] = Path(
        "output/backlog.jsonl"),
    sample: Annotated[bool, typer.Option("--sample", help="classify the sample backlog (tipdm2020 unlabeled "
                                                          "messages, else generated letters)")] = False,
    errors: Annotated[Path | None, typer.Option(help="error rows; default OUTPUT.errors.jsonl")] = None,
    input_format: Annotated[TableFormat | None, typer.Option("--format", help="input format; default by "
                                                             "suffix, else sniffed")] = None,
    encoding: EncodingOption = "",
    output_format: Annotated[OutputFormat | None, typer.Option(help="default by suffix")] = None,
    id_column: Annotated[str, typer.Option(help="field holding the letter id")] = "id",
    text_column: Annotated[str, typer.Option(help="field holding the letter text")] = "text",
    submitter_column: Annotated[str, typer.Option(help="field holding a submitter id ('' for none)")
                                ] = "submitter",
    model: Annotated[str, typer.Option(help="'current', name/version or a model folder")] = "current",
    precision: Annotated[Precision, typer.Option(help="auto: int8 if it passed parity")] = Precision.auto,
    threads: Annotated[int | None, typer.Option(help="inference threads per process (per actor on Ray); default "
                                                "the CPUs shared among the processes")] = None,
    workers: Annotated[int | None, typer.Option(help="scoring processes on this machine; default one per 4 usable "
                                                "CPUs (setting batch_workers)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="letters per chunk (one fsync each)")] = None,
    engine: Annotated[BatchEngine, typer.Option(help="local, or ray (Ray actors)")] = BatchEngine.local,
    ray_address: Annotated[str, typer.Option(help="existing Ray cluster; default a local Ray")] = "",
    concurrency: Annotated[int | None, typer.Option(help="Engine actors on Ray")] = None,
    restart: Annotated[bool, typer.Option("--restart", help="discard the output of an earlier run")] = False,
    unmasked_spans: Annotated[bool | None, typer.Option(
        "--unmasked-spans/--masked-spans", help="write personal data (ID and phone numbers, names) in evidence "
        "span texts as is; default masked (setting batch_unmasked_spans)")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log counts and timings")] = False,
) -> None:
    """Score a file of letters into OUTPUT, streaming and resumable: rerun the same command after a crash.
    Exit status 0: every row has a result; 1: some rows have error rows."""
    from xinfang.batch.job import ClassifyOptions, run_classify
    from xinfang.batch.log import log_to_stderr
    from xinfang.batch.reader import Columns
    from xinfang.config import get_settings

    if verbose:
        log_to_stderr()
    try:
        settings = get_settings().with_overrides(
            threads=threads, batch_workers=workers, batch_size=batch_size, ray_address=ray_address or None, ray_concurrency=concurrency,
            batch_unmasked_spans=unmasked_spans)
        if sample == bool(input_paths):
            raise XinfangError("give either INPUT or --sample")
        if sample:
            from xinfang.training.sample_backlog import sample_input

            sample_path, about = sample_input(settings, output)
            console.print(f"sample backlog: {sample_path} ({about})")
            input_paths = [sample_path]
        opts = ClassifyOptions(
            input=input_paths[0], more_inputs=input_paths[1:], output=output, errors=errors,
            input_format=input_format, encoding=encoding or None,
            output_format=output_format, columns=Columns(id_column, text_column, submitter_column or None),
            model=model, precision=precision, engine=engine, restart=restart, progress=progress)
        report = run_classify(opts, settings=settings, console=console)
    except XinfangError as exc:
        raise fail(exc) from None
    except KeyboardInterrupt:
        console.print("interrupted: what was written is kept; rerun the same command to resume")
        raise typer.Exit(code=130) from None
    except Exception as exc:  # no traceback with locals: they would hold letter texts
        from xinfang.batch.log import get_logger

        get_logger().error("classify failed", exc_info=True)  # redacted; shown with --verbose
        console.print(f"[bold red]error:[/] classify failed ({type(exc).__name__}); what was written is "
                      "kept, rerun to resume (--verbose logs a redacted traceback)")
        raise typer.Exit(code=ExitCode.error_rows) from None
    if report.get("letters", {}).get("errors"):
        raise typer.Exit(code=ExitCode.error_rows)
