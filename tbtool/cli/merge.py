"""``tbtool merge``: combine event files / runs into one clean event file per run."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer
from rich.markup import escape

from tbtool.cli.app import (
    EXIT_PROBLEMS,
    DryRunOption,
    NoBackupOption,
    QuietOption,
    RunOption,
    TextOrJson,
    TextOrJsonFormat,
    YesOption,
    choice_option,
    command,
    confirm_plan,
    output_option,
    reported_errors,
    stdout_console,
)
from tbtool.cli.progress import progress_display
from tbtool.errors import UsageError
from tbtool.ops import merge_in_place
from tbtool.ops.merge import MergeResult, OutputRun, merge, plan_outputs


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


def _render_run(run: OutputRun, target: str) -> None:
    console = stdout_console()
    console.print(
        f"[bold]{escape(run.name)}[/bold]: {len(run.sources)} file(s), {run.records_in} "
        f"record(s) in -> {run.records_out} out ({run.dropped_by_restarts} value(s) dropped "
        f"by restarts, {run.duplicates} duplicate(s)) -> {escape(target)}"
    )
    for skipped in run.skipped:
        console.print(f"  [yellow]skipped[/yellow] {escape(str(skipped))}")


def render(result: MergeResult, *, quiet: bool = False) -> None:
    """Per output run what went in and out (``quiet``: only what was skipped, on stderr)."""
    for run in result.runs:
        if not quiet:
            _render_run(run, run.written or "-")
        elif run.skipped:
            for skipped in run.skipped:
                typer.echo(f"tbtool: warning: {run.name}: skipped {skipped}", err=True)


def render_in_place(plan: merge_in_place.InPlacePlan) -> None:
    console = stdout_console()
    console.print(f"[bold]merge in place under {escape(plan.root)}[/bold]")
    for item in plan.runs:
        if item.changes:
            _render_run(item.run, f"one file, {item.run.sources[0][1]}")
        else:
            console.print(f"{escape(item.run.name)}: already one clean file, unchanged")
    changing = plan.changing
    files = sum(len(item.run.sources) for item in changing)
    console.print(f"total: {len(changing)} run(s), {files} file(s) to replace by {len(changing)}")


def _render_outputs(
    inputs: list[str], out: str, layout: str, runs: list[str], json_out: bool
) -> None:
    planned = plan_outputs(inputs, layout=layout, runs=runs)
    if json_out:
        found = [{"run": r.name, "sources": [path for _, path in r.sources]} for r in planned]
        typer.echo(json.dumps({"out": out, "runs": found}, indent=2))
        return
    console = stdout_console()
    for run in planned:
        console.print(f"[bold]{escape(run.name)}[/bold] <- {len(run.sources)} file(s) into {out}")
        for _, path in run.sources:
            console.print(f"  {escape(path)}")


def _in_place(
    inputs: list[str], rule: str | None, runs: list[str], options: dict[str, bool], json_out: bool
) -> None:
    if len(inputs) != 1:
        raise UsageError("merge --in-place takes exactly one PATH (a logdir or run directory)")
    with progress_display("reading", enabled=not options["quiet"]) as progress:
        plan = merge_in_place.plan(inputs[0], rule=rule, runs=runs, progress=progress)
    if not json_out:
        render_in_place(plan)
    if plan.changing and confirm_plan(
        yes=options["yes"], dry_run=options["dry_run"], action="rewrite these runs in place"
    ):
        with progress_display("rewriting", enabled=not options["quiet"]) as progress:
            merge_in_place.apply(plan, keep_backup=not options["no_backup"], progress=progress)
        if not json_out and not options["quiet"]:
            typer.echo(
                f"replaced {len(plan.replaced)} file(s), removed {len(plan.removed)}"
                + (f"; originals in {plan.backups[0]}" if plan.backups else "")
            )
    if json_out:
        typer.echo(json.dumps(plan.to_json(), indent=2))


@command(
    "merge",
    examples=[
        "tbtool merge demo -o merged",
        "tbtool merge demo/run0-sgd-lr0.003 demo/run1-adamw-lr0.01 --layout sub-run -o both",
        "tbtool merge demo --in-place --dry-run",
    ],
    aliases={"--out": "--output"},
)
def merge_command(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Event files, run directories or logdirs.", metavar="INPUT", show_default=False
        ),
    ],
    out: Annotated[
        str | None,
        output_option("Output directory (new or empty). Give this or --in-place.", "DIR"),
    ] = None,
    in_place: Annotated[
        bool,
        typer.Option(
            "--in-place",
            help="Consolidate each run under the one PATH into a single file where it is "
            "(the first file is replaced, the others deleted); refuses damaged files.",
        ),
    ] = False,
    layout: Annotated[
        Layout,
        choice_option(
            Layout,
            "--layout",
            help="merge: same-named runs of all inputs become one; "
            "sub-run: each input becomes a sub-run named after it; tag-prefix: "
            "runs merge and tags get the input's name as a prefix.",
        ),
    ] = Layout.merge,
    rule: Annotated[
        MergeRule,
        choice_option(
            MergeRule,
            "--rule",
            help="Restart rule applied across files: start "
            "(SessionLog START at step T drops earlier steps >= T), rewind "
            "(per tag, as TensorBoard's Rust server), none (keep all).",
        ),
    ] = MergeRule.start,
    sort: Annotated[
        SortKey, choice_option(SortKey, "--sort", help="Order of events in each output file.")
    ] = SortKey.read,
    run: RunOption = [],  # noqa: B006 - typer needs a literal default
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    no_backup: NoBackupOption = False,
    format: TextOrJsonFormat = TextOrJson.text,
    quiet: QuietOption = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Exit 1 when damaged bytes of the inputs were left out of the output (each "
            "stretch named on stderr), for CI; the output is written either way.",
        ),
    ] = False,
) -> None:
    """Restarts applied, exact duplicates dropped, damaged records salvaged and reported.
    Inputs are not modified, except with --in-place, which shows the plan first (--yes to
    do it without asking) and keeps a backup (unless --no-backup)."""
    with reported_errors():
        rule_name = None if rule is MergeRule.none else rule.value
        if in_place == (out is not None):
            raise UsageError("give exactly one of -o DIR or --in-place")
        if in_place:
            if layout is not Layout.merge or sort is not SortKey.read:
                raise UsageError("--in-place merges each run where it is: no --layout or --sort")
            options = {"yes": yes, "dry_run": dry_run, "no_backup": no_backup, "quiet": quiet}
            _in_place(inputs, rule_name, run, options, format is TextOrJson.json)
            return
        if yes or no_backup:
            raise UsageError("--yes and --no-backup apply to --in-place (-o never changes inputs)")
        if dry_run:
            _render_outputs(inputs, out, layout.value, run, format is TextOrJson.json)
            return
        with progress_display("merging", enabled=not quiet) as progress:
            result = merge(
                inputs,
                out,
                layout=layout.value,
                rule=rule_name,
                sort_by_step=sort is SortKey.step,
                runs=run,
                progress=progress,
            )
        if format is TextOrJson.json:
            typer.echo(json.dumps(result.to_json(), indent=2))
        else:
            render(result, quiet=quiet)
        if strict and result.skipped:
            for skipped in result.skipped:
                typer.echo(f"tbtool: dropped: {skipped}", err=True)
            typer.echo(
                f"tbtool: merge --strict: {len(result.skipped)} stretch(es) of input bytes "
                f"left out of {out} (damaged, or a last record still being written)",
                err=True,
            )
            raise typer.Exit(EXIT_PROBLEMS)
