"""``tbtool validate``: integrity and sanity checks, for people and for CI."""

from __future__ import annotations

from typing import Annotated

import typer

from tbtool.cli.app import Paths, RunOption, TagOption, app, reported_errors
from tbtool.cli.progress import progress_display
from tbtool.cli.report import FailOn, ReportFormat, emit
from tbtool.ops.validate import RECENT_SECONDS, validate


@app.command("validate")
def validate_command(
    paths: Paths,
    run: RunOption = [],  # noqa: B006 - typer needs a literal default
    tag: TagOption = [],  # noqa: B006
    format: Annotated[ReportFormat, typer.Option("--format", help="Output format.")] = (
        ReportFormat.text
    ),
    strict: Annotated[
        bool, typer.Option("--strict", help="A truncated final record is an error, not a warning.")
    ] = False,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 if any finding is at least this severe.")
    ] = FailOn.error,
    ignore: Annotated[
        list[str],
        typer.Option(
            "--ignore", help="Drop findings with this code (repeatable).", show_default=False
        ),
    ] = [],  # noqa: B006
    recent: Annotated[
        float,
        typer.Option(
            "--recent",
            help="Seconds since a file's last change within which "
            "a truncated tail is reported as 'may still be being written'.",
        ),
    ] = RECENT_SECONDS,
) -> None:
    """Check that event files are intact and their contents sane (findings with stable codes;
    exit 1 when any is at least --fail-on)."""
    with reported_errors(), progress_display("validating") as progress:
        report = validate(
            paths,
            strict=strict,
            runs=run,
            tags=tag,
            ignore=ignore,
            recent_seconds=recent,
            progress=progress,
        )
    emit(report, format, fail_on)
