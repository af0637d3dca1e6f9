"""The typer application, its global options and how errors reach the user.

Every command is a thin skin over a library call. Errors become one line on stderr and exit
code 2 (contract.md); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shlex
import sys
from collections.abc import Collection, Iterator, Sequence
from difflib import get_close_matches
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperCommand, TyperGroup

try:  # typer >= 0.2x vendors its own click; older ones use click itself
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - depends on the installed typer
    from click.exceptions import UsageError

import tbtool
from tbtool.errors import DamagedFiles, TbtoolError

if TYPE_CHECKING:
    from rich.console import Console
    from typer._click import Command, Context, HelpFormatter

    from tbtool.damage import FileDamage

#: Every command, in the order ``tbtool --help`` lists them, with the opening of its help
#: (what the listing shows; tests/test_startup.py checks it against the command's own help).
#: The command's module (``tbtool.cli.<name>``) is imported only when the command runs or its
#: own help is asked for, so ``tbtool --help``, ``--version`` and ``tbtool ls`` do not import
#: pandas, pyarrow and the rest of the other commands' library stacks.
COMMANDS = {
    "ls": "List runs, event files, sizes, tags by kind, step ranges, counts, wall times and "
    "the last value of each scalar.",
    "dump": "Print every event / summary value in read order.",
    "validate": "Check that event files are intact and their contents sane (findings with "
    "stable codes; exit 1 when any is at least --fail-on).",
    "check": "Assert what runs logged (tags, steps, NaNs, value bounds, hparams, duration); "
    "every failed assertion says expected vs found; exit 1 if any fails.",
    "summary": "One row per run: hyperparameters, steps, duration and the last/min/max/best "
    "value of each metric (with the step where it was reached). Markdown fits "
    "$GITHUB_STEP_SUMMARY.",
    "diff": "What differs between two runs (or two logdirs, runs matched by name): tags on "
    "one side only, hparams, and per scalar tag steps, last/min/max and the first "
    "step where values diverge. Exits 1 when anything differs beyond --rtol/--atol.",
    "export": "Export scalars, histograms, hparams, text, images, audio, tensors or PR curves "
    "to Parquet, CSV or JSON lines.",
    "report": "Write one self-contained HTML file that opens offline: the summary table, a "
    "chart per scalar tag with every run overlaid (smoothing, hover, log scale), "
    "histograms as distribution bands, the hparams table and the last image of each "
    "image tag. Needs the report extra: pip install 'tbtool[report]'.",
    "plot": "Draw scalar tags, one panel per tag with every run overlaid, to a PNG, SVG or "
    "PDF (matplotlib). Exits 1 when no scalar matched.",
    "watch": "A live view of runs as they grow: per run its step, steps per second, time since "
    "the last event and the latest value of each scalar tag. Local or remote; Ctrl-C "
    "quits.",
    "merge": "Merge inputs into one clean event file per run under OUT: restarts applied, "
    "exact duplicates dropped, damaged records salvaged and reported.",
    "purge": "Drop summary values with step >= N (graphs and metadata stay), or apply restart "
    "semantics to the files themselves; shows the plan first, keeps a backup.",
    "clean": "Remove selected runs' event data.",
    "synth": "Write a synthetic logdir: runs of a pretend training job (decaying losses, "
    "rising accuracies, a learning-rate schedule, drifting weight histograms, ...) in "
    "torch's, tensorboardX's or TF2's encodings; optionally a crashed and resumed run, "
    "injected faults or a target size.",
}

#: Commands whose module is not named after them.
COMMAND_MODULES = {"report": "html_report"}


class LazyCommands(TyperGroup):
    """The command group: lists :data:`COMMANDS` from their summaries and imports a
    command's module the first time the command itself is needed."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(dict.fromkeys([*COMMANDS, *self.commands]))

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = self.commands.get(cmd_name)
        if command is None and cmd_name in COMMANDS:
            # Importing the module registers the command on ``app``; build its click command.
            importlib.import_module(f"tbtool.cli.{COMMAND_MODULES.get(cmd_name, cmd_name)}")
            command = typer.main.get_group(app).commands.get(cmd_name)
            if command is not None:
                self.add_command(command, cmd_name)
        return command

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        """As typer's, but "did you mean" looks at every command, loaded or not."""
        try:
            return super().resolve_command(ctx, args)
        except UsageError as error:
            if self.suggest_commands and args and "Did you mean" not in error.message:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    suggestions = ", ".join(f"{m!r}" for m in matches)
                    error.message = f"{error.message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The command listing from the summaries, without importing any command."""
        loaded = self.commands
        self.commands = {name: TyperCommand(name, help=text) for name, text in COMMANDS.items()}
        self.commands.update(loaded)
        try:
            super().format_commands(ctx, formatter)
        finally:
            self.commands = loaded


app = typer.Typer(
    cls=LazyCommands,
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
    _notes_to_stderr()


class _StderrNotes(logging.Handler):
    """What the library logs for the user (a stale temporary removed, ...) as one
    ``tbtool: ...`` line on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(f"tbtool: {record.getMessage()}", err=True)


def _notes_to_stderr() -> None:
    logger = logging.getLogger("tbtool")
    if not any(isinstance(h, _StderrNotes) for h in logger.handlers):
        logger.addHandler(_StderrNotes())
        logger.propagate = False


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
    except DamagedFiles as error:
        if State.debug:
            raise
        report_damage(error.files, skip_corrupt=False)
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
    """Rich console on stdout: styled on a terminal, plain text when piped (imported here:
    ``rich.console`` is a noticeable part of start-up and only output needs it)."""
    from rich.console import Console

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
        help="Accept damaged files: go on without their damaged records (each damaged file "
        "is named on stderr) and exit 0. Without it a damaged file is named and the exit "
        "code is 2.",
    ),
]
StepsOption = Annotated[
    str | None,
    typer.Option(
        "--steps",
        help="Only steps in A:B (from A, before B; either may be left out) or exactly N.",
        metavar="A:B",
        show_default=False,
    ),
]
MetricOption = Annotated[
    list[str],
    typer.Option(
        "--metric",
        "-m",
        help="TAG=AGG: a metric column, AGG one of last, min, max, mean, best (best: min of "
        "loss-like tags, else max); TAG may be a glob (repeatable) [default: every scalar "
        "tag's last value].",
        metavar="TAG=AGG",
        show_default=False,
    ),
]
#: ``-q`` of a command that writes a file and says so.
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress display and no summary line.")
]
#: ``--overwrite`` of a command that writes one file.
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")]


class TextOrJson(str, Enum):
    text = "text"
    json = "json"


def report_damage(
    files: Sequence[FileDamage], *, skip_corrupt: bool, named: Collection[str] = ()
) -> None:
    """Name every damaged file on stderr (but those in ``named``, already named), in
    validate's words with the byte offset. With ``--skip-corrupt`` they are warnings;
    without, errors and a hint, and exit 2. Damage that loses nothing readable (zero padding
    at the end) is not reported, like a truncated last record (``ls`` shows both beside the
    file)."""
    files = [f for f in files if not f.tolerated]
    if not files:
        return
    level = "warning: skipped" if skip_corrupt else "error"
    for file in files:
        if file.file not in named:
            typer.echo(f"tbtool: {level}: {file}", err=True)
    if skip_corrupt:
        return
    names = [f.file for f in files]
    target = names[0]
    if len(names) > 1 and not any("://" in n for n in names):
        with contextlib.suppress(ValueError):  # absolute and relative paths mixed
            target = os.path.commonpath([os.path.dirname(n) or "." for n in names])
    typer.echo(
        f"tbtool: hint: {len(files)} damaged file(s); --skip-corrupt goes on without the "
        f"damaged parts (exit 0); `tbtool validate {shlex.quote(target)}` lists every problem",
        err=True,
    )
    raise typer.Exit(EXIT_ERROR)


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
