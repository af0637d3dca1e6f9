"""``tbtool purge``: drop values by step, or materialize restarts, rewriting files safely."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer
from rich.markup import escape

from tbtool.cli.app import (
    DryRunOption,
    NoBackupOption,
    QuietOption,
    RunOption,
    TagOption,
    TextOrJson,
    TextOrJsonFormat,
    YesOption,
    choice_option,
    command,
    confirm_plan,
    reported_errors,
    stdout_console,
)
from tbtool.cli.progress import progress_display
from tbtool.ops import purge_steps
from tbtool.ops.purge_steps import PurgePlan


class RestartRule(str, Enum):
    start = "start"
    rewind = "rewind"


def render_plan(plan: PurgePlan) -> None:
    console = stdout_console()
    console.print(f"[bold]{escape(plan.description)}[/bold]")
    for run in plan.runs:
        changing = [f for f in run.files if f.changes]
        console.print(
            f"run {escape(run.run.name)}: drop {run.dropped} value(s) in "
            f"{len(changing)} of {len(run.files)} file(s)"
        )
        for tag in sorted(run.tags.values(), key=lambda t: t.tag):
            if not tag.dropped:
                continue
            remain = (
                f"steps {tag.first_kept_step}..{tag.last_kept_step} remain"
                if tag.kept
                else "nothing remains"
            )
            console.print(f"  {escape(tag.tag)}: drop {tag.dropped}, keep {tag.kept} ({remain})")
    console.print(f"total: {plan.dropped} value(s) to drop")


@command(
    "purge",
    examples=[
        "tbtool purge demo --run run0 --step 900 --tag 'loss/*' --dry-run",
        "tbtool purge demo --restarts --rule rewind --dry-run",
    ],
)
def purge_command(
    path: Annotated[
        str, typer.Argument(help="A logdir, run directory or event file.", metavar="PATH")
    ],
    step: Annotated[
        int | None,
        typer.Option("--step", help="Drop values with step >= N.", metavar="N", show_default=False),
    ] = None,
    restarts: Annotated[
        bool,
        typer.Option(
            "--restarts",
            help="Materialize restarts (SessionLog START) so every viewer shows the same series.",
        ),
    ] = False,
    rule: Annotated[
        RestartRule,
        choice_option(
            RestartRule,
            "--rule",
            help="With --restarts: 'start' (a START at step T "
            "drops earlier values with step >= T) or 'rewind' (a value at "
            "step s drops earlier values of its tag with step >= s, as "
            "TensorBoard's Rust server shows).",
        ),
    ] = RestartRule.start,
    tag: TagOption = [],  # noqa: B006 - typer needs a literal default
    run: RunOption = [],  # noqa: B006
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    no_backup: NoBackupOption = False,
    format: TextOrJsonFormat = TextOrJson.text,
    quiet: QuietOption = False,
) -> None:
    """Drop summary values with step >= N (graphs and metadata stay), or apply restart
    semantics to the files themselves, rewriting each file safely. Shows the plan first;
    without a terminal it needs --yes. Keeps a backup unless --no-backup."""
    with reported_errors():
        options = {"step": step, "restarts": rule.value if restarts else None, "tags": tag}
        with progress_display("reading", enabled=not quiet) as progress:
            plan = purge_steps.plan(path, runs=run, progress=progress, **options)
        if format is TextOrJson.text:
            render_plan(plan)
        if plan.dropped and confirm_plan(yes=yes, dry_run=dry_run, action="rewrite these files"):
            with progress_display("rewriting", enabled=not quiet) as progress:
                purge_steps.apply(plan, keep_backup=not no_backup, progress=progress, **options)
            if format is TextOrJson.text and not quiet:
                typer.echo(
                    f"rewrote {len(plan.rewritten)} file(s)"
                    + (f"; originals in {plan.backups[0]}" if plan.backups else "")
                )
        if format is TextOrJson.json:
            typer.echo(json.dumps(plan.to_json(), indent=2))
