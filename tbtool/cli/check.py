"""``tbtool check``: content assertions for CI (see docs/check.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tbtool.cli.app import NoPurgeOption, Paths, RunOption, app, reported_errors
from tbtool.cli.progress import progress_display
from tbtool.cli.report import FailOn, ReportFormat, emit
from tbtool.ops.check import check, load_expectations, shortcut_expectations


@app.command("check")
def check_command(
    paths: Paths,
    expect: Annotated[
        Path | None,
        typer.Option("--expect", help="TOML file of [[expect]] assertions.", show_default=False),
    ] = None,
    require_tag: Annotated[
        list[str],
        typer.Option(
            "--require-tag",
            help="A tag matching this glob must exist (repeatable).",
            show_default=False,
        ),
    ] = [],  # noqa: B006 - typer needs a literal default
    min_steps: Annotated[
        int | None,
        typer.Option(
            "--min-steps",
            help="Each required tag (or every tag) has at least N values.",
            min=0,
            show_default=False,
        ),
    ] = None,
    no_nan: Annotated[
        bool, typer.Option("--no-nan", help="No NaN/Inf in required tags (or any tag).")
    ] = False,
    run: RunOption = [],  # noqa: B006
    format: Annotated[ReportFormat, typer.Option("--format", help="Output format.")] = (
        ReportFormat.text
    ),
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 if any finding is at least this severe.")
    ] = FailOn.error,
    no_purge: NoPurgeOption = False,
) -> None:
    """Assert what runs logged (tags, steps, NaNs, value bounds, hparams, duration); every
    failed assertion says expected vs found; exit 1 if any fails."""
    with reported_errors():
        expectations = load_expectations(expect) if expect is not None else []
        expectations += shortcut_expectations(require_tag, min_steps, no_nan)
        with progress_display("checking") as progress:
            report = check(
                paths, expectations, runs=run, purge=not no_purge, jobs=0, progress=progress
            )
    emit(report, format, fail_on)
