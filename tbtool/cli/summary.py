"""``tbtool summary``: one row per run, as a table, CSV, JSON or Markdown (a skin over
:func:`tbtool.ops.summary.summarize`)."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer

from tbtool.cli.app import (
    MetricOption,
    NoPurgeOption,
    Paths,
    QuietOption,
    RunOption,
    SkipCorruptOption,
    StepsOption,
    TagOption,
    command,
    format_option,
    print_table,
    report_damage,
    reported_errors,
    stdout_console,
)
from tbtool.cli.progress import progress_display
from tbtool.cli.report import markdown_table


class SummaryFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


@command(
    "summary",
    examples=[
        "tbtool summary demo",
        "tbtool summary demo -m 'loss/val=min' -m accuracy/val --sort loss/val=min --top 2",
        "tbtool summary demo --format markdown",
    ],
)
def summary_command(
    paths: Paths,
    metric: MetricOption = [],  # noqa: B006 - typer needs a literal default
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            help="Sort by this column, tag or TAG=AGG metric; best first for metrics "
            "(ascending for min and loss-like tags), else ascending.",
            metavar="KEY",
            show_default=False,
        ),
    ] = None,
    ascending: Annotated[
        bool | None,
        typer.Option(
            "--ascending/--descending",
            help="Override the direction of --sort.",
            show_default=False,
        ),
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(
            "--top",
            help="Only the first N rows after sorting (by --sort, else the first --metric).",
            metavar="N",
            min=0,
            show_default=False,
        ),
    ] = None,
    format: Annotated[SummaryFormat, format_option(SummaryFormat)] = SummaryFormat.table,
    run: RunOption = [],  # noqa: B006
    tag: TagOption = [],  # noqa: B006
    steps: StepsOption = None,
    quiet: QuietOption = False,
    no_purge: NoPurgeOption = False,
    skip_corrupt: SkipCorruptOption = False,
) -> None:
    """Per run: hyperparameters, steps, duration and the last/min/max/best value of each
    metric (with the step where it was reached; without --metric, every scalar tag's last
    value). Markdown fits $GITHUB_STEP_SUMMARY."""
    from tbtool.ops.summary import display_table, json_records, summarize
    from tbtool.reading.log_reader import LogReader

    with reported_errors():
        # Every readable run gets its row either way; --skip-corrupt decides the exit code.
        reader = LogReader(paths, runs=run, tags=tag, purge=not no_purge, skip_corrupt=True)
        with progress_display("reading", enabled=not quiet) as progress:
            frame = summarize(
                reader,
                metrics=metric,
                sort=sort,
                ascending=ascending,
                top=top,
                steps=steps,
                jobs=0,
                progress=progress,
            )
        if format is SummaryFormat.csv:
            typer.echo(frame.to_csv(index=False), nl=False)
        elif format is SummaryFormat.json:
            typer.echo(json.dumps(json_records(frame), indent=2))
        elif format is SummaryFormat.markdown:
            typer.echo(markdown_table(*display_table(frame)))
        else:
            render_table(*display_table(frame))
        report_damage(reader.damage(), skip_corrupt=skip_corrupt)


def render_table(headers: list[str], rows: list[list[str]]) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    if not rows:
        stdout_console().print("no runs found")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for i, header in enumerate(headers):
        table.add_column(escape(header), justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        table.add_row(*(escape(c) for c in row))
    # Never fold numbers into several lines: a wide table prints at its natural width (a
    # terminal wraps it, `less -S` scrolls it); --metric and --tag make it narrower.
    print_table(table, fit_terminal=False)
