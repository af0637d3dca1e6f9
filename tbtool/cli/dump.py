"""``tbtool dump``: every event / summary value in read order, as text or JSON lines."""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Annotated

import typer

from tbtool.cli.app import (
    NoPurgeOption,
    Paths,
    QuietOption,
    RunOption,
    SkipCorruptOption,
    StepsOption,
    TagOption,
    command,
    duration_option,
    format_option,
    kind_option,
    report_damage,
    reported_errors,
)
from tbtool.cli.progress import progress_display
from tbtool.errors import UsageError
from tbtool.ops.dump import dump_values, raw_json, raw_text, value_line
from tbtool.reading.log_reader import LogReader
from tbtool.reading.reader import StepRange, ValueSelector
from tbtool.values.normalize import Normalizer
from tbtool.values.typed import KINDS


class DumpFormat(str, Enum):
    text = "text"
    jsonl = "jsonl"


def _write(line: str) -> None:
    sys.stdout.write(line + "\n")


@command(
    "dump",
    examples=[
        "tbtool dump demo --run run0 --tag loss/train --steps :3",
        "tbtool dump demo --kind text --format jsonl",
        "tbtool dump demo --raw --steps 0",
    ],
)
def dump_command(
    paths: Paths,
    run: RunOption = [],  # noqa: B006 - typer needs a literal default
    tag: TagOption = [],  # noqa: B006
    kind: Annotated[list[str], kind_option(KINDS, "Only values of this kind")] = [],  # noqa: B006
    steps: StepsOption = None,
    format: Annotated[DumpFormat, format_option(DumpFormat)] = DumpFormat.text,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Whole events as protobuf text (JSON with --format jsonl), without normalization.",
        ),
    ] = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep reading as files grow and new files or "
            "runs appear (Ctrl-C to stop). Shows the raw stream: no purge.",
        ),
    ] = False,
    interval: Annotated[
        float,
        duration_option(
            "--interval",
            "How long to wait between checks for new data with --follow.",
            minimum=0.01,
        ),
    ] = "1s",  # type: ignore[assignment] - parsed to seconds
    no_purge: NoPurgeOption = False,
    skip_corrupt: SkipCorruptOption = False,
    quiet: QuietOption = False,
) -> None:
    """Summary values in read order, one line each (text) or one JSON object each (jsonl,
    the schema of contract.md); --raw prints whole events instead."""
    with reported_errors():
        step_range = StepRange.parse(steps) if steps else None
        if raw and (kind or tag):
            raise UsageError("--kind and --tag select values; --raw prints whole events")
        # Everything readable is printed either way; --skip-corrupt decides the exit code.
        reader = LogReader(
            paths, runs=run, tags=tag, purge=not (no_purge or follow), skip_corrupt=True
        )
        selector = ValueSelector(kind, step_range, reader.tag_ok)
        jsonl = format is DumpFormat.jsonl
        named: set[str] = set()  # damaged files named while following
        try:
            if follow:
                _follow(reader, selector, raw, jsonl, interval, skip_corrupt, named)
            elif raw:
                for run_, record in reader.events():
                    if step_range is None or record.event.step in step_range:
                        _write(
                            json.dumps(raw_json(run_, record)) if jsonl else raw_text(run_, record)
                        )
            else:
                sys.stdout.flush()
                out = sys.stdout.buffer
                # On a terminal the lines themselves show progress; into a file, a bar does.
                with progress_display("dumping", enabled=not (quiet or out.isatty())) as progress:
                    for lines in dump_values(
                        reader,
                        kinds=kind,
                        steps=step_range,
                        format=format.value,
                        jobs=0,
                        progress=progress,
                    ):
                        out.write(lines)
        finally:
            sys.stdout.flush()
        report_damage(reader.damage(), skip_corrupt=skip_corrupt, named=named)


def _follow(
    reader: LogReader,
    selector: ValueSelector,
    raw: bool,
    jsonl: bool,
    interval: float,
    skip_corrupt: bool,
    named: set[str],
) -> None:
    normalizers: dict[str, Normalizer] = {}
    try:
        for item in reader.follow(poll_interval=interval):
            if item is None:
                sys.stdout.flush()
                # Name a damaged file as soon as it is met (the exit code comes at Ctrl-C).
                for damage in reader.damage():
                    if damage.file not in named:
                        named.add(damage.file)
                        level = "warning: skipped" if skip_corrupt else "error"
                        typer.echo(f"tbtool: {level}: {damage}", err=True)
                continue
            run, record = item
            if raw:
                if selector.steps is None or record.event.step in selector.steps:
                    _write(json.dumps(raw_json(run, record)) if jsonl else raw_text(run, record))
                continue
            normalizer = normalizers.setdefault(run.name, Normalizer())
            for value in selector.values(run, record, normalizer):
                _write(json.dumps(value.to_json()) if jsonl else value_line(value))
    except KeyboardInterrupt:
        sys.stdout.flush()
