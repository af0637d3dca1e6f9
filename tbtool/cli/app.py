"""The typer application, its global options and how errors reach the user.

Every command is a thin skin over a library call. Errors become one line on stderr and exit
code 2 (contract.md); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import os
import shlex
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from difflib import get_close_matches
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from tbtool._version import __version__
from tbtool.cli.command import (
    ALIASES,
    EXAMPLES,
    OneLineUsageError,
    TbtoolCommand,
    UsageError,
)
from tbtool.errors import DamagedFiles, TbtoolError, not_one_of

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from typer._click import Command, Context, HelpFormatter

    from tbtool.runs.damage import FileDamage

#: Every command in workflow order (look, check, compare, get data out, repair, tidy, make
#: sample data), as ``tbtool --help`` lists it, with its one-line summary: the first line of
#: its own help too (:func:`command`). The command's module (``tbtool.cli.<name>``) is imported
#: only when the command runs or its own help is asked for, so ``tbtool --help``,
#: ``--version`` and ``tbtool ls`` do not import pandas, pyarrow and the rest of the other
#: commands' library stacks.
COMMANDS = {
    "ls": "List runs, files, tags by kind, step ranges and last values.",
    "dump": "Print every value (or whole event) in read order.",
    "watch": "Watch runs grow: step, steps/s, latest value of each scalar.",
    "validate": "Check that event files are intact and sane (findings, exit 1).",
    "check": "Assert what training logged: tags, steps, NaNs, bounds (exit 1).",
    "summary": "One row per run: hparams, steps, duration, metrics.",
    "diff": "What differs between two runs or logdirs (exit 1 if anything).",
    "export": "Export values to Parquet, CSV or JSON lines (+ media files).",
    "report": "Write one offline HTML report with interactive charts.",
    "plot": "Draw scalar tags to a PNG, SVG or PDF.",
    "merge": "Merge event files into one clean file per run.",
    "purge": "Drop values from a step on, or apply restarts, in place.",
    "clean": "Remove old, empty or abandoned runs' event data.",
    "synth": "Write a synthetic logdir (demos, tests, benchmarks).",
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
            raise OneLineUsageError.of(error) from None

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except UsageError as error:
            raise OneLineUsageError.of(error) from None

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The command listing from the summaries, without importing any command."""
        loaded = self.commands
        self.commands = {
            name: TyperCommand(name, short_help=text) for name, text in COMMANDS.items()
        }
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


def command(
    name: str, *, examples: Sequence[str], aliases: dict[str, str] | None = None
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a command: its help is its summary in :data:`COMMANDS` followed by its
    docstring, then ``examples`` (runnable on the README's ``demo`` logdir; a test runs them);
    ``aliases`` maps old spellings of its options, still accepted but not shown, to the
    options they now are."""
    EXAMPLES[name] = examples
    ALIASES[name] = dict(aliases or {})

    def register(function: Callable[..., None]) -> Callable[..., None]:
        details = inspect.cleandoc(function.__doc__ or "")
        text = COMMANDS[name] + (f"\n\n{details}" if details else "")
        return app.command(name, cls=TbtoolCommand, help=text, short_help=COMMANDS[name])(function)

    return register


class State:
    """Global options of this invocation."""

    debug = False


def _version(value: bool) -> None:
    if value:
        from tbtool.columnar.decoder import summary

        typer.echo(f"tbtool {__version__}")
        typer.echo(summary())
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


def print_table(table: Table, *, fit_terminal: bool = True) -> None:
    """Print a rich table on stdout. Piped or redirected (a script, a file, CI), it prints at
    its natural width whatever COLUMNS says, so no cell is truncated and no row wraps: one
    line per row. On a terminal it fits the window (rich folds long cells), unless
    ``fit_terminal`` is false (then it too prints at its natural width)."""
    from rich.console import Console
    from rich.measure import Measurement

    console = stdout_console()
    if not console.is_terminal or not fit_terminal:
        natural = Measurement.get(console, console.options.update(width=100_000), table).maximum
        if natural > console.width or not console.is_terminal:
            console = Console(highlight=False, soft_wrap=True, width=natural)
    console.print(table)


# -- values as users type them: closed sets, kinds, durations ---------------------------------
def completion(values: Sequence[str]) -> Callable[[str], list[str]]:
    """Shell completion of a closed set of values."""

    def complete(incomplete: str) -> list[str]:
        return [v for v in values if v.startswith(incomplete)]

    return complete


def choice_option(enum: type[Enum], *names: str, help: str, **options: Any) -> Any:
    """An option taking one value of ``enum``: shown as ``a|b|c``, completed by the shell, and
    a typo reported in the words of :func:`not_one_of`."""
    values = [member.value for member in enum]

    def parse(value: Any) -> Enum:
        if isinstance(value, enum):
            return value
        try:
            return enum(value)
        except ValueError:
            raise typer.BadParameter(not_one_of(value, values)) from None

    return typer.Option(
        *names,
        help=help,
        metavar="|".join(values),
        parser=parse,
        autocompletion=completion(values),
        **options,
    )


def format_option(enum: type[Enum], help: str = "Output format.") -> Any:
    """``--format``: what the command prints (contract.md "One vocabulary")."""
    return choice_option(enum, "--format", help=help)


def kind_option(
    choices: Sequence[str], help: str, *, default: str | None = None, **options: Any
) -> Any:
    """``--kind KIND``: repeatable (or comma-separated), each kind singular or plural
    (``scalar``/``scalars``), given back as spelled in ``choices``."""
    from tbtool.vocabulary.kinds import kind_names

    def canonical(value: list[str]) -> list[str]:
        names = [name for item in value for name in item.split(",") if name.strip()]
        try:
            return kind_names(names, choices)
        except TbtoolError as error:
            raise typer.BadParameter(error.message) from None

    return typer.Option(
        "--kind",
        help=f"{help} (repeatable or comma-separated): {', '.join(choices)}"
        + (f" [default: {default}]." if default else "."),
        metavar="KIND",
        callback=canonical,
        autocompletion=completion(choices),
        show_default=False,
        **options,
    )


def duration_option(name: str, help: str, *, minimum: float = 0.0) -> Any:
    """An option taking a DURATION: ``90s``, ``15m``, ``2h``, ``30d`` (a bare number is
    seconds), given to the command as seconds."""
    from tbtool.vocabulary.duration import parse_duration

    def parse(value: Any) -> float:
        try:
            seconds = parse_duration(value, "")
        except TbtoolError as error:
            raise typer.BadParameter(error.message) from None
        if seconds < minimum:
            raise typer.BadParameter(f"{value!r} is shorter than {minimum:g}s")
        return seconds

    return typer.Option(name, help=help, metavar="DURATION", parser=parse)


# -- options shared by the commands (contract.md "One vocabulary"; docs/cli.md lists them) ----
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
        help="TAG=AGG: the metrics matching TAG (a glob) as one number, their last, min, "
        "max, mean or best value (best: min of loss-like tags, else max); repeatable.",
        metavar="TAG=AGG",
        show_default=False,
    ),
]


def output_option(help: str, metavar: str = "FILE") -> Any:
    """``-o/--output``: what the command writes."""
    return typer.Option("--output", "-o", help=help, metavar=metavar, show_default=False)


#: ``-q`` of a command with a progress display or a summary line.
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress display and no summary line.")
]
#: ``--overwrite`` of a command that writes one file.
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")]
#: The plan-first options of commands that change or delete (:func:`confirm_plan`).
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Only show the plan.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")]
NoBackupOption = Annotated[
    bool,
    typer.Option(
        "--no-backup",
        help="Do not keep the original files (by default they are archived in "
        "PATH/.tbtool-backups/).",
    ),
]


class TextOrJson(str, Enum):
    text = "text"
    json = "json"


#: ``--format text|json`` of a command that prints a result or plan.
TextOrJsonFormat = Annotated[TextOrJson, format_option(TextOrJson)]


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
