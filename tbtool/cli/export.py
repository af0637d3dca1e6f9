"""``tbtool export``: logged data to Parquet, CSV or JSON lines (a skin over ops.export)."""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Annotated

import typer

from tbtool.cli.app import (
    EXIT_PROBLEMS,
    MetricOption,
    NoPurgeOption,
    Paths,
    QuietOption,
    RunOption,
    SkipCorruptOption,
    StepsOption,
    TagOption,
    TextOrJson,
    choice_option,
    command,
    completion,
    kind_option,
    output_option,
    report_damage,
    reported_errors,
)
from tbtool.cli.progress import progress_display
from tbtool.columnar.table_rows import TABLE_KINDS
from tbtool.errors import UsageError
from tbtool.ops.export import PARTITION_KEYS, export
from tbtool.reading.hparams import METRIC_AGGREGATES
from tbtool.runs.damage import damaged_files

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


@command(
    "export",
    examples=[
        "tbtool export demo -o scalars.parquet",
        "tbtool export demo --kind histograms --kind hparams -o tables/",
        "tbtool export demo --run run0 --tag 'loss/*' --wide -o - --format csv",
    ],
)
def export_command(
    paths: Paths,
    output: Annotated[
        str,
        output_option(
            "Output file, directory (several kinds, images/audio, --partition-by) or - "
            "for stdout (CSV/JSON lines).",
            "FILE|DIR",
        ),
    ],
    kind: Annotated[list[str], kind_option(KIND_CHOICES, "What to export", default="scalars")] = [],  # noqa: B006 - typer needs a literal default
    format: Annotated[
        ExportFormat | None,
        choice_option(
            ExportFormat,
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
            help=f"Write a Hive-partitioned Parquet dataset by this column: "
            f"{', '.join(PARTITION_KEYS)}.",
            metavar="COLUMN",
            autocompletion=completion(PARTITION_KEYS),
            show_default=False,
        ),
    ] = None,
    metric_agg: Annotated[
        MetricAgg,
        choice_option(
            MetricAgg,
            "--metric-agg",
            help="hparams: how a metric's values become one number (best: min of loss-like "
            "tags, else max).",
        ),
    ] = MetricAgg.last,
    metric: MetricOption = [],  # noqa: B006
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an existing output: the file OUT, or in a directory OUT the tables, "
            "media directories or dataset partitions this export writes (nothing else).",
        ),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            help="Read files in this many processes; 0: one per core but one, for 64 MiB or "
            "more of local files, as many as memory allows; 1 on a 2-core machine.",
            metavar="N",
            min=0,
        ),
    ] = 0,
    summary_format: Annotated[
        TextOrJson,
        choice_option(
            TextOrJson,
            "--summary-format",
            help="How to print what was exported: a line on stderr, or JSON on stdout "
            "(--format is the data's format).",
        ),
    ] = TextOrJson.text,
    quiet: QuietOption = False,
    no_purge: NoPurgeOption = False,
    skip_corrupt: SkipCorruptOption = False,
) -> None:
    """Scalars, histograms, hparams, text, images, audio, tensors or PR curves as tables in
    the schemas of docs/export.md (hparams: --metric and --metric-agg choose how each
    metric's values become one number). Never writes over an input or, without --overwrite,
    an existing output; the output appears only once complete (docs/safety.md). Exits 1,
    writing nothing, when nothing matched."""
    with reported_errors():
        as_json = summary_format is TextOrJson.json
        if as_json and output == "-":
            raise UsageError("--summary-format json prints to stdout, where -o - writes the data")
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
        if as_json:
            typer.echo(json.dumps(result.to_json(), indent=2))
        elif not quiet and output != "-" and result.total_rows:
            parts = ", ".join(f"{n:,} {k}" for k, n in result.rows.items())
            media = f", {result.media_files:,} media files" if result.media_files else ""
            typer.echo(f"exported {parts}{media} to {output}", err=True)
        if not result.total_rows:
            typer.echo("tbtool: nothing matched: no values exported, nothing written", err=True)
            raise typer.Exit(EXIT_PROBLEMS)
        sys.stdout.flush()
