"""``tbtool validate``: integrity and sanity checks, for people and for CI."""

from __future__ import annotations

from typing import Annotated

import typer

from tbtool.cli.app import (
    Paths,
    QuietOption,
    RunOption,
    TagOption,
    command,
    duration_option,
    reported_errors,
)
from tbtool.cli.progress import progress_display
from tbtool.cli.report import FailOn, FailOnOption, ReportFormat, ReportFormatOption, emit
from tbtool.ops.validate import RECENT_SECONDS, validate


@command(
    "validate",
    examples=[
        "tbtool validate demo",
        "tbtool validate demo --fail-on warning --format github",
        "tbtool validate demo --format json --ignore restart",
    ],
)
def validate_command(
    paths: Paths,
    run: RunOption = [],  # noqa: B006 - typer needs a literal default
    tag: TagOption = [],  # noqa: B006
    format: ReportFormatOption = ReportFormat.text,
    strict: Annotated[
        bool, typer.Option("--strict", help="A truncated final record is an error, not a warning.")
    ] = False,
    fail_on: FailOnOption = FailOn.error,
    ignore: Annotated[
        list[str],
        typer.Option(
            "--ignore",
            help="Drop findings with this code (repeatable).",
            metavar="CODE",
            show_default=False,
        ),
    ] = [],  # noqa: B006
    recent: Annotated[
        float,
        duration_option(
            "--recent",
            "How long after a file's last change a truncated tail is reported as 'may still "
            "be being written'.",
        ),
    ] = f"{RECENT_SECONDS:g}s",  # type: ignore[assignment] - parsed to seconds
    quiet: QuietOption = False,
) -> None:
    """Findings with stable codes (docs/findings.md): damaged records, truncated files,
    restarts, NaNs, steps going backwards, bad images, ... Exits 1 when any finding is at
    least --fail-on."""
    with reported_errors(), progress_display("validating", enabled=not quiet) as progress:
        report = validate(
            paths,
            strict=strict,
            runs=run,
            tags=tag,
            ignore=ignore,
            recent_seconds=recent,
            progress=progress,
        )
    emit(report, format, fail_on, quiet=quiet)
