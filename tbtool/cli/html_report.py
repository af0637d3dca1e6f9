"""``tbtool report``: one self-contained offline HTML file of a logdir (a skin over
:func:`tbtool.ops.report.report`; the module is not ``report.py``, which renders findings)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tbtool.cli.app import (
    MetricOption,
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
    "report",
    examples=[
        "tbtool report demo -o report.html",
        "tbtool report demo --tag 'loss/*' -m 'loss/val=min' --points 500 -o loss.html",
    ],
)
def report_command(
    paths: Paths,
    output: Annotated[str, output_option("The HTML file to write.")],
    metric: MetricOption = [],  # noqa: B006 - typer needs a literal default
    run: RunOption = [],  # noqa: B006
    tag: TagOption = [],  # noqa: B006
    steps: StepsOption = None,
    points: Annotated[
        int | None,
        typer.Option(
            "--points",
            help="At most N points per series (MinMaxLTTB) [default: 300,000 points shared "
            "by all series, 100 to 2,000 each].",
            metavar="N",
            min=3,
            show_default=False,
        ),
    ] = None,
    overwrite: OverwriteOption = False,
    format: TextOrJsonFormat = TextOrJson.text,
    quiet: QuietOption = False,
    no_purge: NoPurgeOption = False,
    skip_corrupt: SkipCorruptOption = False,
) -> None:
    """One self-contained HTML file that opens offline: the summary table, a chart per scalar
    tag with every run overlaid (smoothing, hover, log scale), histograms as distribution
    bands, the hparams table and the last image of each image tag. Needs the report extra:
    pip install 'tbtool[report]'."""
    from tbtool.ops.report import report

    with reported_errors():
        with progress_display("reading", enabled=not quiet) as progress:
            result = report(
                paths, output, metrics=metric, runs=run, tags=tag, steps=steps, points=points,
                purge=not no_purge, skip_corrupt=skip_corrupt, overwrite=overwrite,
                progress=progress,
            )  # fmt: skip
        report_damage(damaged_files(result.problems), skip_corrupt=skip_corrupt)
        if format is TextOrJson.json:
            typer.echo(json.dumps(result.to_json(), indent=2))
        elif not quiet:
            info = result.downsampling
            typer.echo(
                f"wrote {output}: {result.bytes / 2**20:.1f} MiB, {result.runs} run(s), "
                f"{result.scalar_charts} scalar chart(s) ({info['raw']:,} values drawn as "
                f"{info['drawn']:,} points), {result.histogram_charts} histogram chart(s), "
                f"{result.image_tags} image tag(s)",
                err=True,
            )
