"""``tbtool merge``: combine event files / runs into one clean event file per run."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer
from rich.markup import escape

from tbtool.cli.app import RunOption, TextOrJson, app, reported_errors, stdout_console
from tbtool.ops.merge import MergeResult, merge


class Layout(str, Enum):
    merge = "merge"
    sub_run = "sub-run"
    tag_prefix = "tag-prefix"


class MergeRule(str, Enum):
    start = "start"
    rewind = "rewind"
    none = "none"


class SortKey(str, Enum):
    read = "read"
    step = "step"


def render(result: MergeResult) -> None:
    console = stdout_console()
    for run in result.runs:
        console.print(
            f"[bold]{escape(run.name)}[/bold]: {len(run.sources)} file(s), {run.records_in} "
            f"record(s) in -> {run.records_out} out ({run.dropped_by_restarts} value(s) dropped "
            f"by restarts, {run.duplicates} duplicate(s)) -> {escape(run.written or '-')}"
        )
        for skipped in run.skipped:
            console.print(f"  [yellow]skipped[/yellow] {escape(str(skipped))}")


@app.command("merge")
def merge_command(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Event files, run directories or logdirs.", show_default=False),
    ],
    out: Annotated[
        str,
        typer.Option("-o", "--out", help="Output directory (new or empty).", show_default=False),
    ],
    layout: Annotated[
        Layout,
        typer.Option(
            "--layout",
            help="merge: same-named runs of all inputs become one; "
            "sub-run: each input becomes a sub-run named after it; tag-prefix: "
            "runs merge and tags get the input's name as a prefix.",
        ),
    ] = Layout.merge,
    rule: Annotated[
        MergeRule,
        typer.Option(
            "--rule",
            help="Restart rule applied across files: start "
            "(SessionLog START at step T drops earlier steps >= T), rewind "
            "(per tag, as TensorBoard's Rust server), none (keep all).",
        ),
    ] = MergeRule.start,
    sort: Annotated[
        SortKey, typer.Option("--sort", help="Order of events in each output file.")
    ] = SortKey.read,
    run: RunOption = [],  # noqa: B006 - typer needs a literal default
    format: Annotated[TextOrJson, typer.Option("--format", help="Output format.")] = (
        TextOrJson.text
    ),
) -> None:
    """Merge inputs into one clean event file per run under OUT: restarts applied, exact
    duplicates dropped, damaged records salvaged and reported. Inputs are not modified."""
    with reported_errors():
        result = merge(
            inputs,
            out,
            layout=layout.value,
            rule=None if rule is MergeRule.none else rule.value,
            sort_by_step=sort is SortKey.step,
            runs=run,
        )
        if format is TextOrJson.json:
            typer.echo(json.dumps(result.to_json(), indent=2))
        else:
            render(result)
