"""The classify job: resume state, a checked stream of letters, chunked scoring (local or Ray), duplicates,
incremental fsync'd writing, progress and the summary."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console

from xinfang.batch.choices import BatchEngine
from xinfang.batch.chunks import Chunk, Failed, LocalScorer, Outcome
from xinfang.batch.dedup import RunDuplicates
from xinfang.batch.log import get_logger
from xinfang.batch.progress import make_progress
from xinfang.batch.reader import Columns, LetterFile, Limits
from xinfang.batch.records import Letter, Reason, Rejected
from xinfang.batch.resume import (
    OutputState,
    ResumeError,
    encode_sig,
    load_errors,
    load_output,
    load_signatures,
)
from xinfang.batch.scans import ScanFolder, annotate, is_scan_input
from xinfang.batch.spans import mask_span_texts
from xinfang.batch.summary import Summary, render
from xinfang.batch.writer import (
    LineFile,
    NullLines,
    ResultCodec,
    StreamLines,
    error_line,
    output_format,
    sig_line,
)
from xinfang.config import Settings, get_settings
from xinfang.cpus import cpu_plan
from xinfang.errors import XinfangError
from xinfang.model_folder import ModelFolder
from xinfang.submitters import SubmitterKeyer
from xinfang.tables import is_stdio, local_input

if TYPE_CHECKING:
    from xinfang.batch.ray_runner import RayScorer
    from xinfang.batch.workers import ProcessScorer

log = get_logger()
ENGINES = tuple(BatchEngine)


@dataclass
class ClassifyOptions:
    """Everything `xinfang classify` takes; None means the setting's default."""

    input: Path
    output: Path
    errors: Path | None = None
    input_format: str | None = None
    encoding: str | None = None  # of a CSV/TSV/JSONL input; default detected (UTF-8, GB18030)
    output_format: str | None = None
    columns: Columns = field(default_factory=Columns)
    model: str = "current"
    precision: str = "auto"
    threads: int | None = None
    batch_size: int | None = None
    engine: str = "local"
    ray_address: str | None = None
    concurrency: int | None = None
    ray_ship_model: bool | None = None
    restart: bool = False
    progress: bool = True
    unmasked_spans: bool | None = None  # personal data in evidence span texts as is (settings default: masked)
    more_inputs: list[Path] = field(default_factory=list)  # further INPUTs: only scans (folders, images, PDFs)


@dataclass(frozen=True)
class JobFiles:
    """The output and its companions: errors (default OUTPUT.errors.jsonl), MinHash signatures
    (OUTPUT.sig, for resuming duplicate detection) and the summary (OUTPUT.summary.json)."""

    output: Path
    errors: Path
    sigs: Path
    summary: Path

    @classmethod
    def for_output(cls, output: Path, errors: Path | None = None) -> JobFiles:
        if is_stdio(output):  # standard output: error rows on standard error, no side files
            return cls(output, errors or output, output, output)
        return cls(output, errors or Path(f"{output}.errors.jsonl"), Path(f"{output}.sig"),
                   Path(f"{output}.summary.json"))


def _admit(stream: Iterator[Letter | Rejected], done: set[str], error_lines: set[int], summary: Summary
           ) -> Iterator[Letter | Rejected]:
    """Rows still to do: rows with an error row and letters with a result are skipped; a valid letter whose
    id an earlier valid letter used becomes a duplicate_id error (rows rejected for other reasons reserve
    no id). Deterministic over the input, so a rerun reaches the same decisions."""
    first_line: dict[str, int] = {}
    for rec in stream:
        if isinstance(rec, Letter) and rec.id not in first_line:
            first_line[rec.id] = rec.line
            dup = None
        elif isinstance(rec, Letter):
            dup = first_line[rec.id]
        else:
            dup = None
        if rec.line in error_lines or (isinstance(rec, Letter) and dup is None and rec.id in done):
            summary.skipped()
            continue
        if dup is not None:
            yield Rejected(rec.line, Reason.duplicate_id, f"id already used by the letter on line {dup}",
                           rec.id)
        else:
            yield rec


def _chunks(stream: Iterator[Letter | Rejected], size: int) -> Iterator[Chunk]:
    chunk = Chunk()
    for rec in stream:
        if isinstance(rec, Letter):
            chunk.letters.append(rec)
            if len(chunk.letters) >= size:
                yield chunk
                chunk = Chunk()
        else:
            chunk.rejected.append(rec)
            if len(chunk.rejected) >= size * 4:  # a run of bad rows is written without waiting for letters
                yield chunk
                chunk = Chunk()
    if chunk.letters or chunk.rejected:
        yield chunk


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_classify(opts: ClassifyOptions, settings: Settings | None = None,
                 console: Console | None = None) -> dict:
    """Score every letter of opts.input into opts.output (resuming a previous run of the same job);
    returns the summary, which is also written to OUTPUT.summary.json. An input of '-' is standard input
    (not resumable); an output of '-' is standard output, with error rows on standard error unless
    opts.errors names a file (nothing to resume from, no summary file)."""
    with local_input(opts.input) as path:
        return _run(opts, path, settings or get_settings(), console or Console(stderr=True))


def _sinks(stack: ExitStack, files: JobFiles, codec: ResultCodec, streaming: bool
           ) -> tuple[LineFile | StreamLines, ...]:
    """The signature, output and error files, or with `streaming` nothing, stdout and stderr (or a file)."""
    if not streaming:
        return tuple(stack.enter_context(f) for f in (LineFile(files.sigs), LineFile(files.output, codec.header),
                                                       LineFile(files.errors)))
    errors = LineFile(files.errors) if not is_stdio(files.errors) else StreamLines("stderr")
    return NullLines(), stack.enter_context(StreamLines("stdout", codec.header)), stack.enter_context(errors)


def _run(opts: ClassifyOptions, path: Path, settings: Settings, console: Console) -> dict:
    t0 = time.perf_counter()
    source, codec, files, folder = _check(opts, path, settings)
    streaming = is_stdio(opts.output)
    unmasked = settings.batch_unmasked_spans if opts.unmasked_spans is None else opts.unmasked_spans
    if opts.restart or streaming:
        for p in (files.output, files.errors, files.sigs, files.summary):
            if not is_stdio(p):
                p.unlink(missing_ok=True)
    summary = Summary(folder.schema)
    dups = RunDuplicates(settings.duplicate_threshold, SubmitterKeyer.from_settings(settings))
    state = OutputState() if streaming else load_output(files.output, codec, summary.add_result)
    ref = state.model
    if ref is not None and (ref.name, ref.version, ref.precision) != (folder.name, folder.version, opts.precision):
        raise ResumeError(f"{files.output} was written by model {ref.name}/{ref.version} ({ref.precision}), "
                          f"not {folder.name}/{folder.version} ({opts.precision}); use --restart or another "
                          "output file")
    error_lines = set() if streaming else load_errors(files.errors, lambda rec: summary.add_error(rec["reason"]))
    restored = set() if streaming else load_signatures(files.sigs, state.done,
                                                       lambda *a: _restore(dups, files.sigs, *a))
    missing = state.done - restored
    if state.done or error_lines:
        log.info("resuming: %d results, %d error rows, %d signatures to recompute",
                 len(state.done), len(error_lines), len(missing))

    with ExitStack() as stack:
        sig_file, out_file, err_file = _sinks(stack, files, codec, streaming)
        if missing:
            _recompute_signatures(source.rows(), missing, dups, sig_file)
        scorer = _scorer(opts, settings, folder, dups)
        total = source.count()
        if isinstance(source, ScanFolder):  # scans resume by file name, skipping done files before any OCR
            error_lines = source.resume(state.done, files.errors, summary.skipped)
        stream = _admit(source.rows(), state.done, error_lines, summary)
        t_run = t_last = time.perf_counter()
        with make_progress(console, opts.progress) as progress:
            already = len(state.done) + len(error_lines)
            task = progress.add_task("classify", total=total, completed=already, initial=already)
            batch_size = opts.batch_size or settings.batch_size
            with closing(scorer.run(_chunks(stream, batch_size))) as scored:  # on errors too: Ray shuts down
                for n_chunk, (chunk, outcomes) in enumerate(scored, start=1):
                    sigs, outs, errs = [], [], []
                    for r in chunk.rejected:
                        errs.append(error_line(r.to_dict()))
                        summary.add_error(r.reason.value, now=True)
                    for letter, outcome in zip(chunk.letters, outcomes, strict=True):
                        errs += _place(letter, outcome, dups, codec, summary, sigs, outs, unmasked)
                    # signatures first: a result whose signature is missing costs a re-read on resume
                    for f, lines in ((sig_file, sigs), (out_file, outs), (err_file, errs)):
                        f.write(lines)
                        f.commit()
                    done = summary.results + sum(summary.errors.values())
                    progress.update(task, advance=len(chunk.letters) + len(chunk.rejected),
                                    total=max(total, done))
                    now = time.perf_counter()
                    log.info("chunk %d: %d results, %d error rows in %.3f s", n_chunk, len(outs), len(errs),
                             now - t_last)
                    t_last = now
            done = summary.results + sum(summary.errors.values())
            progress.update(task, total=done, completed=done)
    seconds = time.perf_counter() - t_run
    model = {"name": folder.name, "version": folder.version, "precision": opts.precision}
    report = summary.report(dups, seconds, input=str(opts.input), output=str(files.output),
                            errors_file=str(files.errors), engine=opts.engine, model=model,
                            span_texts="unmasked" if unmasked else "masked",
                            resumed=bool(state.done or error_lines), setup_seconds=round(t_run - t0, 2))
    if not streaming:
        _write_atomic(files.summary, json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    log.info("done: %d results, %d errors in %.1f s", report["letters"]["results"],
             report["letters"]["errors"], seconds)
    render(report, console)
    return report


def _check(opts: ClassifyOptions, path: Path, settings: Settings
           ) -> tuple[LetterFile | ScanFolder, ResultCodec, JobFiles, ModelFolder]:
    """Options checked before anything is written: formats, paths, precision, the input's encoding and header,
    and the model folder."""
    if opts.engine not in ENGINES:
        raise XinfangError(f"unknown engine '{opts.engine}' (use {' or '.join(ENGINES)})")
    if opts.precision not in {"auto", "int8", "fp32"}:
        raise XinfangError("precision is auto, int8 or fp32")
    limits = Limits(settings.max_text_chars, settings.batch_max_id_chars)
    if is_scan_input([path, *opts.more_inputs]):  # a folder, several files, or one image or PDF
        source: LetterFile | ScanFolder = ScanFolder([path, *opts.more_inputs], settings)
    else:
        source = LetterFile(path, opts.input_format, opts.columns, limits, opts.encoding)
    try:
        fmt_out = output_format(opts.output, opts.output_format)
    except ValueError as exc:
        raise XinfangError(str(exc)) from None
    files = JobFiles.for_output(opts.output, opts.errors)
    if is_stdio(files.errors) and not is_stdio(opts.output):
        raise XinfangError("error rows go to standard error only with the results on standard output (-o -)")
    written = [p for p in (files.output, files.errors, files.sigs, files.summary) if not is_stdio(p)]
    if isinstance(source, ScanFolder):
        source.texts_beside(opts.output, written)  # OUTPUT.texts.jsonl; the job's own files are not letters
    if not is_stdio(opts.input) and opts.input.resolve() in {p.resolve() for p in written}:
        raise XinfangError("the output or error file would overwrite the input")
    if is_stdio(opts.input) and not opts.restart and not is_stdio(opts.output) and any(
            p.exists() and p.stat().st_size for p in written):
        raise XinfangError(f"{files.output} exists and input from standard input cannot be resumed; use --restart "
                           "or another output file")
    folder = ModelFolder.resolve(settings.models_dir, opts.model)
    opts.precision = folder.resolve_precision(opts.precision)  # 'auto' becomes what is actually run
    folder.onnx_path(opts.precision)
    return source, ResultCodec(fmt_out, folder.schema), files, folder


def _restore(dups: RunDuplicates, path: Path, letter_id: str, sub: str | None, sig: np.ndarray) -> None:
    try:
        dups.restore(letter_id, sub, sig)
    except ValueError:
        raise ResumeError(f"{path} holds signatures of another shape; use --restart") from None


def _recompute_signatures(stream: Iterator[Letter | Rejected], missing: set[str], dups: RunDuplicates,
                          sig_file: LineFile) -> None:
    """Signatures of done letters lost with a crash or a deleted side file, from the input again."""
    lines: list[str] = []
    for rec in stream:
        if isinstance(rec, Letter) and rec.id in missing:
            missing.discard(rec.id)
            sig, key = dups.signature(rec.text), dups.key(rec.submitter)
            _restore(dups, sig_file.path, rec.id, key, sig)
            lines.append(sig_line(rec.id, key, encode_sig(sig)))
            if len(lines) >= 1024:
                sig_file.write(lines)
                lines = []
    sig_file.write(lines)
    sig_file.commit()


def _scorer(opts: ClassifyOptions, settings: Settings, folder: ModelFolder, dups: RunDuplicates
            ) -> LocalScorer | ProcessScorer | RayScorer:
    """Ray actors, worker processes or this process: one engine per actor or process for the whole job."""
    threads = settings.threads if opts.threads is None else opts.threads
    provider = settings.execution_provider
    if opts.engine == "ray":
        from xinfang.batch.ray_runner import RayScorer

        return RayScorer(folder, opts.precision, threads, opts.concurrency or settings.ray_concurrency,
                         opts.ray_address or settings.ray_address, settings.ray_num_cpus, opts.ray_ship_model,
                         provider)
    plan = cpu_plan(settings.batch_workers or (1 if provider != "cpu" else 0), threads)
    log.info("local: %d process(es) x %d threads", plan.workers, plan.threads)
    if plan.workers > 1:
        from xinfang.batch.workers import ProcessScorer

        return ProcessScorer(folder, opts.precision, plan, provider)
    from xinfang.engine import Engine

    return LocalScorer(Engine(folder, precision=opts.precision, threads=plan.threads, provider=provider),
                       dups.signature)


def _place(letter: Letter, outcome: Outcome, dups: RunDuplicates, codec: ResultCodec, summary: Summary,
           sigs: list[str], outs: list[str], unmasked: bool = False) -> list[str]:
    """Annotate, mask (unless `unmasked`) and encode one outcome into sigs/outs; returns its error line, if
    it failed."""
    if isinstance(outcome, Failed):
        rec = Rejected(letter.line, Reason.scoring_failed, f"the model raised {outcome.error}", letter.id)
        summary.add_error(rec.reason.value, now=True)
        return [error_line(rec.to_dict())]
    key = dups.key(letter.submitter)
    dups.annotate(outcome.result, outcome.sig, key)
    annotate(letter, outcome.result)  # a scan's OCR record
    if not unmasked:
        mask_span_texts(outcome.result, letter.text)
    sigs.append(sig_line(letter.id, key, encode_sig(outcome.sig)))
    outs.append(codec.encode(outcome.result))
    summary.add_result(outcome.result, now=True)
    return []
