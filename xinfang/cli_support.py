"""What every command of the command line shares: the console, the exit codes and errors turned into exits."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

console = Console(stderr=True)
EncodingOption = Annotated[str, typer.Option(
    help="input encoding (e.g. gb18030, big5, utf-16); default detected: UTF-8, UTF-8 with BOM or GB18030/GBK")]


class ExitCode(IntEnum):
    """Exit statuses of every command (README, 'Exit codes')."""

    done = 0
    error_rows = 1  # done, but some input rows have error rows instead of results (or a run stopped midway)
    usage = 2  # a bad option or argument, or options that do not go together
    unreadable_input = 3  # an input file that is missing, undecodable or malformed at a named place
    no_model = 4  # no usable model folder where one was asked for


class TrainProfile(StrEnum):
    """The names of xinfang.training.profiles.PROFILES (tests check they agree): `quick` fits `make run`'s budget,
    `full` is for quality, `tiny` is for tests."""

    quick = "quick"
    full = "full"
    tiny = "tiny"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def exit_code(exc: BaseException) -> ExitCode:
    from xinfang.errors import InputFileError
    from xinfang.model_folder import ModelNotFound

    if isinstance(exc, ModelNotFound):
        return ExitCode.no_model
    if isinstance(exc, InputFileError):
        return ExitCode.unreadable_input
    return ExitCode.usage


def fail(exc: BaseException) -> typer.Exit:
    """Print the error as one line; the exit to raise, with the code its kind calls for."""
    console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
    return typer.Exit(code=int(exit_code(exc)))


def package_version() -> str:
    try:
        return version("xinfang")
    except PackageNotFoundError:
        return "unknown"


def show_version(value: bool) -> None:
    """--version: print `xinfang VERSION` and stop."""
    if value:
        typer.echo(f"xinfang {package_version()}")
        raise typer.Exit()
