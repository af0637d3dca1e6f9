"""``tbtool synth``: write a synthetic logdir (demos, tests, benchmarks)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tbtool.cli.app import (
    QuietOption,
    TextOrJson,
    TextOrJsonFormat,
    choice_option,
    command,
    completion,
    kind_option,
    print_table,
    reported_errors,
    stdout_console,
)
from tbtool.cli.ls import human_size
from tbtool.errors import UsageError
from tbtool.ops.synth.generate import (
    DEFAULT_KINDS,
    DEFAULT_RUNS,
    DEFAULT_START,
    DEFAULT_STEPS,
    DEFAULT_TAGS,
    FAULTS,
    SynthResult,
    synth,
)
from tbtool.ops.synth.styles import ALL_KINDS


class Style(str, Enum):
    torch = "torch"
    tensorboardx = "tensorboardx"
    tf2 = "tf2"


def parse_start(value: str | None) -> float:
    """Seconds since the epoch, or an ISO date/time (UTC unless it names a zone)."""
    if value is None:
        return DEFAULT_START
    try:
        return float(value)
    except ValueError:
        pass
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--start: {value!r} is neither seconds since 1970 nor a date like 2024-05-01"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def render(result: SynthResult) -> None:
    console = stdout_console()
    console.print(
        f"wrote [bold]{escape(result.out)}[/bold] ({result.style} style, seed {result.seed}): "
        f"{len(result.runs)} run(s), {len(result.files)} file(s), {result.records:,} events, "
        f"{human_size(result.bytes)} in {result.seconds:.2f} s ({result.mb_per_s:.0f} MB/s)"
    )
    table = Table("run", "files", "events", "size", "steps", box=None, header_style="bold")
    for run in result.runs:
        table.add_row(
            escape(run.name),
            str(len(run.files)),
            f"{sum(f.records for f in run.files):,}",
            human_size(sum(f.size for f in run.files)),
            "-" if run.last_step is None else f"0..{run.last_step}",
        )
    print_table(table)
    tags: dict[str, set[str]] = {}
    for run in result.runs:
        for tag, series in run.series.items():
            tags.setdefault(series.kind, set()).add(tag)
    order = [
        "scalar", "histogram", "image", "audio", "text", "pr_curve", "hparams",
        "custom_scalars", "mesh", "tensor", "graph",
    ]  # fmt: skip
    kinds = sorted(tags, key=lambda k: order.index(k) if k in order else len(order))
    console.print("tags: " + ", ".join(f"{len(tags[kind])} {kind}" for kind in kinds))
    if result.restarted:
        console.print(
            f"restart: {escape(result.restarted)} crashed after step {result.crashed_at} and "
            f"resumed from step {result.restart_at} in a second file (SessionLog START)"
        )
    for fault in result.faults:
        where = os.path.relpath(fault.file, result.out)
        if fault.offset is not None:
            where += f", byte offset {fault.offset}"
        if fault.index is not None:
            where += f", record {fault.index}"
        console.print(f"injected {fault.fault} ({fault.code}): {escape(where)}")
    expected = ", ".join(f"{code} ({run or 'no run'})" for code, run in result.expected_findings())
    console.print(f"tbtool validate reports: {escape(expected) if expected else 'nothing'}")


@command(
    "synth",
    examples=[
        "tbtool synth demo --overwrite",
        "tbtool synth crashed --num-runs 1 --num-steps 100 --restart-at 50% --corrupt bitflip",
        "tbtool synth big --kind scalars --size 50MB --style tf2",
    ],
    aliases={
        "--runs": "--num-runs",
        "--tags": "--num-tags",
        "--steps": "--num-steps",
        "--kinds": "--kind",
    },
)
def synth_command(
    out: Annotated[
        str,
        typer.Argument(help="Directory to write the logdir into (new or empty).", metavar="OUT"),
    ],
    seed: Annotated[
        int,
        typer.Option(
            "--seed", help="Random seed: equal options give identical files.", metavar="N", min=0
        ),
    ] = 0,
    runs: Annotated[
        int, typer.Option("--num-runs", help="Number of runs.", metavar="N", min=1)
    ] = DEFAULT_RUNS,
    tags: Annotated[
        int,
        typer.Option(
            "--num-tags",
            help="Scalar tags per run (histograms: half as many layers).",
            metavar="N",
            min=1,
        ),
    ] = DEFAULT_TAGS,
    steps: Annotated[
        int | None,
        typer.Option(
            "--num-steps",
            help=f"Training steps per run [default: {DEFAULT_STEPS}].",
            metavar="N",
            min=1,
            show_default=False,
        ),
    ] = None,
    size: Annotated[
        str | None,
        typer.Option(
            "--size",
            metavar="SIZE",
            help="Reach this total size of event files instead of a step count (500MB, "
            "1.5GiB; MB = 10^6 bytes, MiB = 2^20).",
            show_default=False,
        ),
    ] = None,
    kind: Annotated[
        list[str],
        kind_option([*ALL_KINDS, "all"], "What to write", default=", ".join(DEFAULT_KINDS)),
    ] = [],  # noqa: B006 - typer needs a literal default
    style: Annotated[
        Style, choice_option(Style, "--style", help="Whose encodings and file names to write.")
    ] = Style.torch,
    restart_at: Annotated[
        str | None,
        typer.Option(
            "--restart-at",
            metavar="STEP",
            help="The first run crashes further on and resumes from this step (or NN%) "
            "in a second file that starts with a restart (purge_step) event.",
            show_default=False,
        ),
    ] = None,
    corrupt: Annotated[
        list[str],
        typer.Option(
            "--corrupt",
            metavar="FAULT",
            help="Inject faults, each with one validate finding, the i-th into the i-th run "
            f"(comma-separated or repeated): {', '.join(FAULTS)}.",
            autocompletion=completion(list(FAULTS)),
            show_default=False,
        ),
    ] = [],  # noqa: B006
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            metavar="TIME",
            help="Wall time of the first event: seconds since 1970 or an ISO date "
            "[default: 2023-11-14T22:13:20Z].",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace OUT if tbtool synth wrote it before (it holds .tbtool-synth.json); "
            "other non-empty directories are never touched.",
        ),
    ] = False,
    format: TextOrJsonFormat = TextOrJson.text,
    quiet: QuietOption = False,
) -> None:
    """Runs of a pretend training job (decaying losses, rising accuracies, a learning-rate
    schedule, drifting weight histograms, ...) in torch's, tensorboardX's or TF2's encodings;
    optionally a crashed and resumed run, injected faults or a target size. Deterministic:
    the same options write identical files."""
    with reported_errors():
        faults = [name.strip() for item in corrupt for name in item.split(",") if name.strip()]
        result = synth(
            out,
            seed=seed,
            runs=runs,
            tags=tags,
            steps=steps,
            kinds=kind or DEFAULT_KINDS,
            style=style.value,
            restart_at=restart_at,
            corrupt=faults,
            size=size,
            start=parse_start(start),
            overwrite=overwrite,
        )
        if format is TextOrJson.json:
            typer.echo(json.dumps(result.to_json(), indent=2))
        elif not quiet:
            render(result)
