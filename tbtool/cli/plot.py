"""``tbtool plot``: scalar tags as a PNG, SVG or PDF (a skin over
:func:`tbtool.ops.plot.plot`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tbtool.cli.app import (
    EXIT_PROBLEMS,
    NoPurgeOption,
    OverwriteOption,
    Paths,
    QuietOption,
    RunOption,
    SkipCorruptOption,
    StepsOption,
    TagOption,
    TextOrJson,
    TextOrJsonFormat,
    command,
    output_option,
    report_damage,
    reported_errors,
)
from tbtool.cli.progress import progress_display
from tbtool.runs.damage import damaged_files


@command(
    "plot",
    examples=[
        "tbtool plot demo --tag 'loss/*' -o loss.png",
        "tbtool plot demo --tag 'accuracy/*' --smoothing 0.6 --log-scale -o accuracy.svg",
    ],
)
def plot_command(
    paths: Paths,
    output: Annotated[str, output_option("The image to write: .png, .svg or .pdf.")],
    run: RunOption = [],  # noqa: B006 - typer needs a literal default
    tag: TagOption = [],  # noqa: B006
    steps: StepsOption = None,
    smoothing: Annotated[
        float,
        typer.Option(
            "--smoothing",
            help="TensorBoard's smoothing weight, 0 (none) to 0.999.",
            metavar="WEIGHT",
            min=0.0,
        ),
    ] = 0.0,
    log_scale: Annotated[bool, typer.Option("--log-scale", help="Logarithmic y axes.")] = False,
    columns: Annotated[
        int | None,
        typer.Option("--columns", help="Panels per row [default: up to 3].", min=1, metavar="N"),
    ] = None,
    overwrite: OverwriteOption = False,
    format: TextOrJsonFormat = TextOrJson.text,
    quiet: QuietOption = False,
    no_purge: NoPurgeOption = False,
    skip_corrupt: SkipCorruptOption = False,
) -> None:
    """One panel per scalar tag with every run overlaid, drawn with matplotlib (pip install
    'tbtool[plot]'). Exits 1 when no scalar matched."""
    from tbtool.ops.plot import plot

    with reported_errors():
        with progress_display("reading", enabled=not quiet) as progress:
            result = plot(
                paths, output, runs=run, tags=tag, steps=steps, smoothing=smoothing,
                log_scale=log_scale, columns=columns, purge=not no_purge,
                skip_corrupt=skip_corrupt, overwrite=overwrite, progress=progress,
            )  # fmt: skip
        report_damage(damaged_files(result.problems), skip_corrupt=skip_corrupt)
        if format is TextOrJson.json:
            typer.echo(json.dumps(result.to_json(), indent=2))
        if not result.tags:
            typer.echo("tbtool: nothing matched: no scalars to plot", err=True)
            raise typer.Exit(EXIT_PROBLEMS)
        if not quiet and format is TextOrJson.text:
            typer.echo(
                f"wrote {output}: {len(result.tags)} tag(s), {len(result.runs)} run(s)", err=True
            )
