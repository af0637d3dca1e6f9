"""The typer application, its global options and how errors reach the user.

Every command is a thin skin over a library call. Errors become one line on stderr and exit
code 2 (contract.md); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console

import tbtool
from tbtool.errors import TbtoolError

app = typer.Typer(
    name="tbtool",
    help="Inspect, validate, repair, merge and export TensorBoard event logs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)

EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR = 0, 1, 2


class State:
    """Global options of this invocation."""

    debug = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tbtool {tbtool.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")
    ] = False,
) -> None:
    State.debug = debug


def error_line(error: BaseException) -> str:
    """The one line a user sees for an error."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    return str(error) or type(error).__name__


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    """Turn any error into one line on stderr and exit code 2 (unless ``--debug``)."""
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except BrokenPipeError:
        # The reader of our output went away (``| head``): not an error of ours.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(EXIT_OK) from None
    except Exception as error:
        if State.debug:
            raise
        prefix = "" if isinstance(error, (TbtoolError, OSError)) else "internal error: "
        typer.echo(f"tbtool: error: {prefix}{error_line(error)}", err=True)
        raise typer.Exit(EXIT_ERROR) from None


def stdout_console() -> Console:
    """Rich console on stdout: styled on a terminal, plain text when piped."""
    return Console(highlight=False, soft_wrap=True)


# -- options shared by the reading commands ---------------------------------------------------
Paths = Annotated[
    list[str],
    typer.Argument(
        help="Logdirs, run directories or event files.", show_default=False, metavar="PATH"
    ),
]
RunOption = Annotated[
    list[str],
    typer.Option(
        "--run",
        help="Only runs whose name matches this regular expression (repeatable).",
        metavar="REGEX",
        show_default=False,
    ),
]
TagOption = Annotated[
    list[str],
    typer.Option(
        "--tag",
        help="Only tags matching this glob pattern (repeatable).",
        show_default=False,
        metavar="GLOB",
    ),
]
NoPurgeOption = Annotated[
    bool,
    typer.Option(
        "--no-purge", help="Show the raw stream: do not apply restart (purge_step) semantics."
    ),
]
SkipCorruptOption = Annotated[
    bool,
    typer.Option(
        "--skip-corrupt",
        help="Skip unreadable records (reported on stderr) instead of stopping with an error.",
    ),
]


class TextOrJson(str, Enum):
    text = "text"
    json = "json"


def report_problems(problems: list[TbtoolError]) -> None:
    """Warn on stderr about records skipped with ``--skip-corrupt``."""
    for problem in problems:
        typer.echo(f"tbtool: warning: skipped: {problem}", err=True)


def confirm_plan(*, yes: bool, dry_run: bool, action: str) -> bool:
    """The plan-first policy of commands that rewrite or delete: ``--dry-run`` never acts,
    ``--yes`` always does, a terminal asks, and without a terminal (CI, scripts) tbtool
    refuses and exits 1, so nothing is ever changed unattended by accident."""
    if dry_run:
        return False
    if yes:
        return True
    if sys.stdin.isatty() and sys.stdout.isatty():
        return typer.confirm(f"{action}?", default=False)
    typer.echo(
        f"tbtool: not confirmed: {action} needs --yes when there is no terminal to ask", err=True
    )
    raise typer.Exit(EXIT_PROBLEMS)
