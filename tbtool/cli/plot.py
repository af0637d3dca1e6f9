"""``tbtool plot``: scalar tags as a PNG, SVG or PDF (a skin over
:func:`tbtool.ops.plot.plot`)."""

from __future__ import annotations

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
    app,
    report_damage,
    reported_errors,
)
from tbtool.cli.progress import progress_display
from tbtool.damage import damaged_files


@app.command("plot")
def plot_command(
    paths: Paths,
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="The image to write: .png, .svg or .pdf.", show_default=False
        ),
    ],
    run: RunOption = [],  # noqa: B006 - typer needs a literal default
    tag: TagOption = [],  # noqa: B006
    steps: StepsOption = None,
    smoothing: Annotated[
        float,
        typer.Option(
            "--smoothing", help="TensorBoard's smoothing weight, 0 (none) to 0.999.", min=0.0
        ),
    ] = 0.0,
    log_scale: Annotated[bool, typer.Option("--log-scale", help="Logarithmic y axes.")] = False,
    columns: Annotated[
        int | None,
        typer.Option("--columns", help="Panels per row [default: up to 3].", min=1, metavar="N"),
    ] = None,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
    no_purge: NoPurgeOption = False,
    skip_corrupt: SkipCorruptOption = False,
) -> None:
    """Draw scalar tags, one panel per tag with every run overlaid, to a PNG, SVG or PDF
    (matplotlib). Exits 1 when no scalar matched."""
    from tbtool.ops.plot import plot

    with reported_errors():
        with progress_display("reading", enabled=not quiet) as progress:
            result = plot(
                paths, output, runs=run, tags=tag, steps=steps, smoothing=smoothing,
                log_scale=log_scale, columns=columns, purge=not no_purge,
                skip_corrupt=skip_corrupt, overwrite=overwrite, progress=progress,
            )  # fmt: skip
        report_damage(damaged_files(result.problems), skip_corrupt=skip_corrupt)
        if not result.tags:
            typer.echo("tbtool: nothing matched: no scalars to plot", err=True)
            raise typer.Exit(EXIT_PROBLEMS)
        if not quiet:
            typer.echo(
                f"wrote {output}: {len(result.tags)} tag(s), {len(result.runs)} run(s)", err=True
            )
