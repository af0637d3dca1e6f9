"""``tbtool watch``: a live terminal view of growing runs (rich Live over
:class:`tbtool.ops.watch.Watch`); Ctrl-C quits."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from tbtool.cli.app import (
    EXIT_OK,
    Paths,
    RunOption,
    SkipCorruptOption,
    TagOption,
    command,
    duration_option,
    print_table,
    report_damage,
    reported_errors,
    stdout_console,
)

if TYPE_CHECKING:
    from rich.table import Table

    from tbtool.ops.watch import RunState, Watch


def age(seconds: float) -> str:
    """``12s``, ``5m``, ``3h``, ``2d``: how long ago."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def live_table(runs: list[RunState], now: float) -> Table:
    """Rows are runs; columns their step, steps per second, time since the last event and
    the latest value of each scalar tag."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    tags = sorted({t for run in runs for t in run.tags})
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("run", overflow="fold")
    for name in ("step", "steps/s", "last event", *tags):
        table.add_column(escape(name), justify="right")
    for run in runs:
        rate = run.steps_per_second
        cells = [
            escape(run.name),
            "-" if run.step is None else str(run.step),
            "-" if rate is None else f"{rate:.3g}",
            "-" if run.last_wall_time is None else f"{age(now - run.last_wall_time)} ago",
        ]
        for tag in tags:
            state = run.tags.get(tag)
            cells.append("-" if state is None else f"{state.value:.6g}")
        table.add_row(*cells)
    return table


def _follow_plainly(watch: Watch, runs: list[RunState], interval: float) -> None:
    shown = None
    while True:
        now = [(r.name, r.step, r.last_wall_time) for r in runs]
        if now != shown:
            print_table(live_table(runs, time.time()))
            shown = now
        time.sleep(interval)
        runs = watch.poll()


@command(
    "watch",
    examples=["tbtool watch demo --once", "tbtool watch demo --tag 'loss/*' --interval 10s"],
)
def watch_command(
    paths: Paths,
    run: RunOption = [],  # noqa: B006 - typer needs a literal default
    tag: TagOption = [],  # noqa: B006
    interval: Annotated[
        float,
        duration_option(
            "--interval", "How long to wait between two looks at the files.", minimum=0.05
        ),
    ] = "2s",  # type: ignore[assignment] - parsed to seconds
    once: Annotated[
        bool, typer.Option("--once", help="Print the table once and exit (for scripts).")
    ] = False,
    skip_corrupt: SkipCorruptOption = False,
) -> None:
    """Per run its step, steps per second, time since the last event and the latest value of
    each scalar tag, redrawn as the runs grow. Local or remote; Ctrl-C quits. Without a
    terminal it prints a new table whenever something changed."""
    from rich.live import Live

    from tbtool.ops.watch import Watch

    console = stdout_console()
    with reported_errors():
        watch = Watch(paths, runs=run, tags=tag)
        try:
            runs = watch.poll()
            if once:
                print_table(live_table(runs, time.time()))
                return
            if not console.is_terminal:  # a log: a new table whenever something changed
                _follow_plainly(watch, runs, interval)
            with Live(live_table(runs, time.time()), console=console, auto_refresh=False) as live:
                while True:
                    time.sleep(interval)
                    live.update(live_table(watch.poll(), time.time()), refresh=True)
        except KeyboardInterrupt:
            raise typer.Exit(EXIT_OK) from None
        finally:
            watch.close()
            report_damage(watch.reader.damage(), skip_corrupt=skip_corrupt)
