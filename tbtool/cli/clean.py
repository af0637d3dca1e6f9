"""``tbtool clean``: remove old, empty or abandoned runs' event data (plan first)."""

from __future__ import annotations

import json
import os
from enum import Enum
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tbtool import storage
from tbtool.cli.app import (
    DryRunOption,
    QuietOption,
    RunOption,
    TextOrJson,
    TextOrJsonFormat,
    YesOption,
    choice_option,
    command,
    confirm_plan,
    duration_option,
    print_table,
    reported_errors,
    stdout_console,
)
from tbtool.cli.ls import human_size
from tbtool.cli.progress import progress_display
from tbtool.ops import clean as clean_op
from tbtool.ops.clean import CleanPlan
from tbtool.vocabulary.printable import printable


class AgeBy(str, Enum):
    wall_time = "wall_time"
    mtime = "mtime"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _relative(path: str, root: str) -> str:
    if storage.is_url(path):
        return storage.relative(path, root)
    return os.path.relpath(path, root)


def render_plan(plan: CleanPlan) -> None:
    console = stdout_console()
    if not plan.selected:
        console.print("no run matches the selection; nothing to remove")
        return
    table = Table(
        "run",
        "age",
        "last step",
        "values",
        "size",
        "remove",
        "keep",
        "why",
        box=None,
        header_style="bold",
    )
    for action in plan.selected:
        f = action.facts
        table.add_row(
            escape(f.run.name),
            _age(f.age(plan.now, plan.by)),
            "-" if f.max_step is None else str(f.max_step),
            str(f.summary_values),
            human_size(f.size),
            f"{len(action.remove)} file(s)",
            f"{len(action.keep)} file(s)",
            escape("; ".join(action.reasons)),
        )
    print_table(table)
    for action in plan.selected:  # every path that goes, so nothing is removed unseen
        for path in action.remove:
            console.print(f"  remove {escape(printable(_relative(path, plan.root)))}")
    kept = [path for a in plan.selected for path in a.keep]
    if kept:
        console.print(
            f"kept (not event data; --all-files removes them): "
            f"{escape(', '.join(kept[:10]))}{' ...' if len(kept) > 10 else ''}"
        )
    console.print(f"{len(plan.selected)} run(s), {human_size(plan.bytes)} to free")


@command(
    "clean",
    examples=[
        "tbtool clean demo --older-than 30d --dry-run",
        "tbtool clean demo --keep-last 1 --format json --dry-run",
        "tbtool clean demo --empty --last-step-below 100 --trash ../old-runs --dry-run",
    ],
    aliases={"--min-steps": "--last-step-below"},
)
def clean_command(
    path: Annotated[str, typer.Argument(help="A logdir (or run directory).", metavar="PATH")],
    older_than: Annotated[
        float | None,
        duration_option(
            "--older-than",
            "Runs whose newest event is older than this (90s, 15m, 2h, 30d, 1w).",
        ),
    ] = None,
    by: Annotated[
        AgeBy,
        choice_option(
            AgeBy,
            "--by",
            help="Age from the newest event's wall_time or from file modification times.",
        ),
    ] = AgeBy.wall_time,
    empty: Annotated[bool, typer.Option("--empty", help="Runs without summary values.")] = False,
    last_step_below: Annotated[
        int | None,
        typer.Option(
            "--last-step-below",
            help="Runs whose last step is below N (abandoned early).",
            metavar="N",
            min=0,
            show_default=False,
        ),
    ] = None,
    keep_last: Annotated[
        int | None,
        typer.Option(
            "--keep-last",
            help="Never select the N newest runs of each parent directory.",
            metavar="N",
            min=0,
            show_default=False,
        ),
    ] = None,
    run: RunOption = [],  # noqa: B006 - typer needs a literal default
    all_files: Annotated[
        bool,
        typer.Option(
            "--all-files",
            help="Also remove non-event files in selected runs (checkpoints, configs).",
        ),
    ] = False,
    trash: Annotated[
        str | None,
        typer.Option(
            "--trash",
            help="Move into this directory instead of deleting.",
            metavar="DIR",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    format: TextOrJsonFormat = TextOrJson.text,
    quiet: QuietOption = False,
) -> None:
    """Selections (--older-than, --empty, --last-step-below, --keep-last, --run) combine
    with AND. Shows the plan first; without a terminal it needs --yes."""
    with reported_errors():
        with progress_display("reading", enabled=not quiet) as progress:
            plan = clean_op.plan(
                path,
                older_than=older_than,
                by=by.value,
                empty=empty,
                min_steps=last_step_below,
                keep_last=keep_last,
                runs=run,
                all_files=all_files,
                progress=progress,
            )
        if format is TextOrJson.text:
            render_plan(plan)
        if plan.selected and confirm_plan(yes=yes, dry_run=dry_run, action="remove this data"):
            clean_op.apply(plan, trash=trash)
            if format is TextOrJson.text and not quiet:
                where = f" (moved to {plan.trash})" if plan.trash else ""
                typer.echo(
                    f"removed {len(plan.removed)} file(s) and "
                    f"{len(plan.removed_dirs)} empty director(ies){where}"
                )
            for error in plan.errors:
                typer.echo(f"tbtool: warning: {error}", err=True)
        if format is TextOrJson.json:
            typer.echo(json.dumps(plan.to_json(), indent=2))
        if plan.errors:
            raise typer.Exit(1)
