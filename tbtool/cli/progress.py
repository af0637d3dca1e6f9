"""The progress display of reading commands: rich, on stderr, only on a terminal.

A command that may take more than a second passes a :class:`~tbtool.columnar.walk.Progress`
(counters of files, bytes and values) into its library call and shows them here. The
display appears only once the command has run for :data:`DELAY` seconds (fast commands
never flash a bar), only when stderr is a terminal (never in pipes, logs or CI), and is
cleared when done, so what the command prints afterwards stands alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tbtool.columnar.walk import Progress as Counters

#: Seconds a command runs before its progress display appears.
DELAY = 0.8


@contextmanager
def progress_display(label: str, *, enabled: bool = True) -> Iterator[Counters | None]:
    """Counters to pass to a library call, shown as a transient bar (``None`` when there is
    nothing to show: disabled, or stderr is not a terminal)."""
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    started = time.monotonic()
    shown: dict[str, Any] = {}

    def update(c: Counters) -> None:
        bar = shown.get("bar")
        if bar is None:
            if time.monotonic() - started < DELAY:
                return
            bar = shown["bar"] = _bar(console)
            bar.start()
            shown["task"] = bar.add_task(label, total=None, files="0/0", values=0)
        bar.update(
            shown["task"],
            completed=c.bytes,
            total=c.bytes_total or None,
            files=f"{c.files}/{c.files_total}",
            values=c.values,
        )

    try:
        yield Counters(callback=update)
    finally:
        if "bar" in shown:
            shown["bar"].stop()


def _bar(console: Any) -> Any:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[files]} files, {task.fields[values]:,} values"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        # The command's own output goes to stdout untouched (a file, a pipe, the terminal).
        redirect_stdout=False,
        redirect_stderr=False,
    )
