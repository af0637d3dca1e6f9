"""``tbtool check``: content assertions for CI (see docs/check.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tbtool.cli.app import (
    NoPurgeOption,
    Paths,
    QuietOption,
    RunOption,
    TagOption,
    command,
    reported_errors,
)
from tbtool.cli.progress import progress_display
from tbtool.cli.report import FailOn, FailOnOption, ReportFormat, ReportFormatOption, emit
from tbtool.ops.check import check, load_expectations, shortcut_expectations


@command(
    "check",
    examples=[
        "tbtool check demo --require-tag 'loss/*' --min-steps 1000 --no-nan",
        "tbtool check demo --run run0 --tag 'accuracy/*' --no-nan --format junit",
    ],
)
def check_command(
    paths: Paths,
    expect: Annotated[
        Path | None,
        typer.Option(
            "--expect",
            help="TOML file of [[expect]] assertions (docs/check.md).",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    require_tag: Annotated[
        list[str],
        typer.Option(
            "--require-tag",
            help="A tag matching this glob must exist (repeatable).",
            metavar="GLOB",
            show_default=False,
        ),
    ] = [],  # noqa: B006 - typer needs a literal default
    min_steps: Annotated[
        int | None,
        typer.Option(
            "--min-steps",
            help="Each required tag (or every tag) has at least N values.",
            metavar="N",
            min=0,
            show_default=False,
        ),
    ] = None,
    no_nan: Annotated[
        bool, typer.Option("--no-nan", help="No NaN/Inf in required tags (or any tag).")
    ] = False,
    run: RunOption = [],  # noqa: B006
    tag: TagOption = [],  # noqa: B006
    format: ReportFormatOption = ReportFormat.text,
    fail_on: FailOnOption = FailOn.error,
    no_purge: NoPurgeOption = False,
    quiet: QuietOption = False,
) -> None:
    """Assertions from --expect FILE.toml or the shortcut options; every failed assertion
    says expected vs found. Exits 1 if any fails."""
    with reported_errors():
        expectations = load_expectations(expect) if expect is not None else []
        expectations += shortcut_expectations(require_tag, min_steps, no_nan)
        with progress_display("checking", enabled=not quiet) as progress:
            report = check(
                paths,
                expectations,
                runs=run,
                tags=tag,
                purge=not no_purge,
                jobs=0,
                progress=progress,
            )
    emit(report, format, fail_on, quiet=quiet)
