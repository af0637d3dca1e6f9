"""``tbtool purge``: drop values by step, or materialize restarts, rewriting files safely."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer
from rich.markup import escape

from tbtool.cli.app import (
    RunOption,
    TagOption,
    TextOrJson,
    app,
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


@app.command("purge")
def purge_command(
    path: Annotated[str, typer.Argument(help="A logdir, run directory or event file.")],
    step: Annotated[
        int | None, typer.Option("--step", help="Drop values with step >= N.", show_default=False)
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
        typer.Option(
            "--rule",
            help="With --restarts: 'start' (a START at step T "
            "drops earlier values with step >= T) or 'rewind' (a value at "
            "step s drops earlier values of its tag with step >= s, as "
            "TensorBoard's Rust server shows).",
        ),
    ] = RestartRule.start,
    tag: TagOption = [],  # noqa: B006 - typer needs a literal default
    run: RunOption = [],  # noqa: B006
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the plan.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")] = False,
    no_backup: Annotated[
        bool,
        typer.Option(
            "--no-backup",
            help="Do not keep the original files (by default "
            "they are archived in PATH/.tbtool-backups/).",
        ),
    ] = False,
    format: Annotated[TextOrJson, typer.Option("--format", help="Output format.")] = (
        TextOrJson.text
    ),
) -> None:
    """Drop summary values with step >= N (graphs and metadata stay), or apply restart
    semantics to the files themselves; shows the plan first, keeps a backup."""
    with reported_errors():
        options = {"step": step, "restarts": rule.value if restarts else None, "tags": tag}
        with progress_display("reading") as progress:
            plan = purge_steps.plan(path, runs=run, progress=progress, **options)
        if format is TextOrJson.text:
            render_plan(plan)
        if plan.dropped and confirm_plan(yes=yes, dry_run=dry_run, action="rewrite these files"):
            with progress_display("rewriting") as progress:
                purge_steps.apply(plan, keep_backup=not no_backup, progress=progress, **options)
            if format is TextOrJson.text:
                typer.echo(
                    f"rewrote {len(plan.rewritten)} file(s)"
                    + (f"; originals in {plan.backups[0]}" if plan.backups else "")
                )
        if format is TextOrJson.json:
            typer.echo(json.dumps(plan.to_json(), indent=2))
