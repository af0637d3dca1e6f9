"""``tbtool export``: logged data to Parquet, CSV or JSON lines (a skin over ops.export)."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from tbtool.cli.app import (
    EXIT_PROBLEMS,
    NoPurgeOption,
    Paths,
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
from tbtool.hparams import METRIC_AGGREGATES
from tbtool.ops.export import export
from tbtool.tables import TABLE_KINDS

KIND_CHOICES = [*TABLE_KINDS, "all"]


class ExportFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"
    jsonl = "jsonl"


class MetricAgg(str, Enum):
    last = "last"
    min = "min"
    max = "max"
    mean = "mean"
    best = "best"


assert [m.value for m in MetricAgg] == list(METRIC_AGGREGATES)


@app.command("export")
def export_command(
    paths: Paths,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Output file, directory (several kinds, images/audio, --partition-by) or - "
            "for stdout (CSV/JSON lines).",
            show_default=False,
        ),
    ],
    kind: Annotated[
        list[str],
        typer.Option(
            "--kind",
            help=f"What to export (repeatable): {', '.join(KIND_CHOICES)}.",
            show_default="scalars",
        ),
    ] = [],  # noqa: B006 - typer needs a literal default
    format: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            help="Output format [default: from the output's extension, else parquet; csv for -].",
            show_default=False,
        ),
    ] = None,
    run: RunOption = [],  # noqa: B006
    tag: TagOption = [],  # noqa: B006
    steps: StepsOption = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Scalars: one row per (run, step), a column per tag.")
    ] = False,
    explode: Annotated[
        bool, typer.Option("--explode", help="Histograms: one row per bucket.")
    ] = False,
    partition_by: Annotated[
        str | None,
        typer.Option(
            "--partition-by",
            help="Write a Hive-partitioned Parquet dataset by this column (run).",
            show_default=False,
        ),
    ] = None,
    metric_agg: Annotated[
        MetricAgg,
        typer.Option(
            "--metric-agg",
            help="hparams: how a metric's values become one number (best: min of loss-like "
            "tags, else max).",
        ),
    ] = MetricAgg.last,
    metric: Annotated[
        list[str],
        typer.Option(
            "--metric",
            help="hparams: TAG=AGG, the aggregate of the metrics matching TAG (a glob), e.g. "
            "'loss/val=min' (repeatable; --metric-agg for the others).",
            metavar="TAG=AGG",
            show_default=False,
        ),
    ] = [],  # noqa: B006
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace the partitions of an existing dataset."),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            help="Read files in this many processes; 0: one per core but one, for 64 MiB or "
            "more of local files, as many as memory allows; 1 on a 2-core machine.",
            min=0,
        ),
    ] = 0,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary line.")
    ] = False,
    no_purge: NoPurgeOption = False,
    skip_corrupt: SkipCorruptOption = False,
) -> None:
    """Export scalars, histograms, hparams, text, images, audio, tensors or PR curves to
    Parquet, CSV or JSON lines. Exits 1 when nothing matched."""
    with reported_errors():
        with progress_display("exporting", enabled=not quiet and output != "-") as counters:
            result = export(
                paths,
                output,
                kinds=kind or ["scalars"],
                format=format.value if format is not None else None,
                runs=run,
                tags=tag,
                steps=steps,
                purge=not no_purge,
                skip_corrupt=skip_corrupt,
                wide=wide,
                explode=explode,
                partition_by=partition_by,
                metric_agg=metric_agg.value,
                metrics=metric,
                overwrite=overwrite,
                jobs=jobs,
                progress=counters,
            )
        report_damage(damaged_files(result.problems), skip_corrupt=skip_corrupt)
        if not quiet and output != "-":
            parts = ", ".join(f"{n:,} {k}" for k, n in result.rows.items())
            media = f", {result.media_files:,} media files" if result.media_files else ""
            typer.echo(f"exported {parts}{media} to {output}", err=True)
        if not result.total_rows:
            typer.echo("tbtool: nothing matched: no values exported", err=True)
            raise typer.Exit(EXIT_PROBLEMS)
        sys.stdout.flush()
