"""``tbtool ls``: runs, files, tags by kind, step ranges and last values."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import typer
from rich.markup import escape

from tbtool.cli.app import (
    NoPurgeOption,
    Paths,
    QuietOption,
    RunOption,
    SkipCorruptOption,
    TagOption,
    TextOrJson,
    TextOrJsonFormat,
    command,
    report_damage,
    reported_errors,
    stdout_console,
)
from tbtool.cli.progress import progress_display
from tbtool.format.record import ReadState
from tbtool.reading.inventory import Inventory, RunSummary, inventory
from tbtool.reading.log_reader import LogReader
from tbtool.storage.temporaries import Leftover, find_leftovers
from tbtool.vocabulary.printable import printable


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def human_time(t: float | None) -> str:
    if t is None:
        return "-"
    try:
        return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return repr(t)


def _run_lines(run: RunSummary) -> list[str]:
    header = (
        f"[bold]{escape(printable(run.name))}[/bold]  {len(run.files)} file(s), "
        f"{human_size(run.size)}, "
        f"{human_time(run.first_wall_time)} .. {human_time(run.last_wall_time)} UTC"
    )
    if run.restarts:
        header += f", {run.restarts} restart(s)"
    lines = [header]
    for f in run.files:
        note = ""
        if f.state == ReadState.TRUNCATED.value:
            note = f"  truncated tail ({f.pending_bytes} bytes pending; still being written?)"
        if f.damage is not None:
            damage = f.damage.first
            more = f", and {f.damage.more} more" if f.damage.more else ""
            what = "from" if f.damage.tolerated else "[red]damaged[/red] at"
            note += (
                f"  {what} byte offset {damage.offset}: "
                f"{escape(damage.message)} ({damage.code}{more})"
            )
        lines.append(
            f"  {escape(printable(os.path.basename(f.path)))}  {human_size(f.size)}  "
            f"{f.events} events{note}"
        )
    for kind, series in run.tags_by_kind().items():
        lines.append(f"  [cyan]{kind}[/cyan]")
        width = max(len(printable(s.tag)) for s in series)
        for s in series:
            steps = (
                f"step {s.min_step}"
                if s.min_step == s.max_step
                else (f"steps {s.min_step}..{s.max_step}")
            )
            line = f"    {escape(printable(s.tag)):<{width}}  {steps}  {s.count} value(s)"
            if s.last_value is not None:
                line += f"  last {s.last_value:.6g}"
            lines.append(line)
    return lines


def render_text(result: Inventory, leftovers: list[Leftover]) -> None:
    console = stdout_console()
    if not result.runs:
        console.print("no runs found")
    for i, run in enumerate(result.runs):
        if i:
            console.print()
        for line in _run_lines(run):
            console.print(line)
    if leftovers:
        console.print()
        console.print(
            "[yellow]leftover temporaries[/yellow] of tbtool commands (not runs; "
            "`tbtool validate` reports them too)"
        )
        for leftover in leftovers:
            console.print(
                f"  {escape(printable(leftover.path))}  {human_size(leftover.size)}  "
                f"{escape(leftover.describe())}"
            )


@command(
    "ls",
    examples=[
        "tbtool ls demo",
        "tbtool ls demo --run run0 --tag 'loss/*'",
        "tbtool ls demo --format json",
    ],
)
def ls_command(
    paths: Paths,
    run: RunOption = [],  # noqa: B006 - typer needs a literal default
    tag: TagOption = [],  # noqa: B006
    format: TextOrJsonFormat = TextOrJson.text,
    no_purge: NoPurgeOption = False,
    skip_corrupt: SkipCorruptOption = False,
    quiet: QuietOption = False,
) -> None:
    """List runs, event files, sizes, tags by kind, step ranges, counts, wall times and the
    last value of each scalar. A damaged file is listed with what is wrong with it, beside
    everything that could be read; exit 2 unless --skip-corrupt."""
    with reported_errors():
        # Everything readable is listed either way; --skip-corrupt decides the exit code.
        reader = LogReader(paths, runs=run, purge=not no_purge, skip_corrupt=True)
        with progress_display("reading", enabled=not quiet) as progress:
            result = inventory(reader, tags=tag, jobs=0, progress=progress)
        leftovers = find_leftovers(reader.paths)
        if format is TextOrJson.json:
            listing = result.to_json()
            listing["temporaries"] = [leftover.to_json() for leftover in leftovers]
            typer.echo(json.dumps(listing, indent=2))
        else:
            render_text(result, leftovers)
        report_damage(reader.damage(), skip_corrupt=skip_corrupt)
