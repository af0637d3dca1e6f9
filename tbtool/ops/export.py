"""Export: every kind of logged data to Parquet, CSV or JSON lines, streamed.

:func:`export` is what ``tbtool export`` runs. Where the output goes:

* one table kind (not images/audio) and ``output`` a file name: that file
  (``-``: stdout, CSV or JSON lines);
* several kinds, ``all``, images or audio, or ``output`` an existing directory (or ending in
  ``/``): a directory with ``<kind>.<ext>`` per kind; images and audio files under
  ``<kind>/<run>/<tag>/<step>_<sample>.<ext>``, their index in ``<kind>.<ext>``;
* ``partition_by="run"`` (Parquet): Hive-partitioned datasets (``run=<run>/part-0.parquet``)
  at ``output`` itself for one kind, else at ``<kind>.parquet/`` in ``output``.

Nothing is written over an input or an existing output (unless ``overwrite``), and the output
appears only once complete; when nothing matched, nothing is written at all
(:mod:`tbtool.ops.export_output`). Every table written has its kind's full schema, even
without rows.

Rows are read, converted and written a chunk at a time, so memory stays bounded whatever the
size of the logdir (``--wide`` scalars and ``hparams`` are the exceptions: both need every
row before the first can be written).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tbtool.columnar import arrow, names
from tbtool.columnar.table_rows import SCHEMAS, check_kinds
from tbtool.errors import TbtoolError, UsageError
from tbtool.ops.export_media import MediaWriter, index_schema
from tbtool.ops.export_output import MEDIA_KINDS, ExportOutput
from tbtool.ops.export_sinks import FORMATS, Sink, format_of_path
from tbtool.reading.aggregates import metric_aggregates
from tbtool.reading.hparams import HParamsCollector
from tbtool.reading.log_reader import LogReader
from tbtool.reading.reader import StepRange, Steps
from tbtool.reading.tables import Progress, iter_batches

PARTITION_KEYS = ("run",)


@dataclass
class ExportResult:
    """What an export wrote: per kind its output path (none when nothing matched: then
    nothing is written) and row count, media files written, and the records skipped with
    ``skip_corrupt``."""

    output: str
    format: str
    paths: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    media_files: int = 0
    problems: list[TbtoolError] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def to_json(self) -> dict[str, Any]:
        """What ``export --summary-format json`` prints."""
        return {
            "output": self.output,
            "format": self.format,
            "paths": self.paths,
            "rows": self.rows,
            "media_files": self.media_files,
            "skipped": [str(problem) for problem in self.problems],
        }


def exploded_histograms(batch: pa.RecordBatch) -> pa.RecordBatch:
    """One row per bucket: ``bucket`` (its number) and scalar ``bucket_left``,
    ``bucket_right``, ``bucket_count`` beside the histogram's other columns."""
    lists = batch.column("bucket_left")
    parents = pc.list_parent_indices(lists)
    offsets = lists.offsets.to_numpy()
    first = offsets[parents.to_numpy()] - offsets[0]  # each bucket's histogram's first bucket
    number = np.arange(len(parents)) - first
    head = batch.select(_HEAD)
    table = pa.Table.from_batches([head]).take(parents)
    table = table.append_column("bucket", arrow.numbers(number, pa.int32()))
    for name in ("bucket_left", "bucket_right", "bucket_count"):
        table = table.append_column(name, pc.list_flatten(batch.column(name)))
    return table.combine_chunks().to_batches()[0] if table.num_rows else _empty(table.schema)


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    # pa.nulls: from_pylist and pa.array import pandas (30 MB an export has no use for).
    return pa.RecordBatch.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)


_HEAD = ["run", "tag", "step", "wall_time", "min", "max", "num", "sum", "sum_squares"]
#: What exploded_histograms gives (stated, not computed at import: that would load pandas).
EXPLODED_SCHEMA = pa.schema(
    [
        *(SCHEMAS["histograms"].field(name) for name in _HEAD),
        ("bucket", pa.int32()),
        *((name, pa.float64()) for name in ("bucket_left", "bucket_right", "bucket_count")),
    ]
)


def export(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    output: str,
    *,
    kinds: Sequence[str] = ("scalars",),
    format: str | None = None,
    runs: Sequence[str] = (),
    tags: Sequence[str] = (),
    steps: Steps = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    wide: bool = False,
    explode: bool = False,
    partition_by: str | None = None,
    metric_agg: str = "last",
    metrics: Sequence[str] = (),
    overwrite: bool = False,
    jobs: int | None = None,
    engine: str = "auto",
    progress: Progress | None = None,
) -> ExportResult:
    """Export the ``kinds`` of PATHs to ``output`` (see the module docs for the layout)."""
    kinds = check_kinds(kinds)
    output = os.fspath(output)
    fmt = format or (None if output == "-" else format_of_path(output))
    fmt = fmt or ("csv" if output == "-" else "parquet")
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if partition_by is not None and partition_by not in PARTITION_KEYS:
        raise UsageError(f"--partition-by takes {', '.join(PARTITION_KEYS)}, not {partition_by!r}")
    if partition_by and fmt != "parquet":
        raise UsageError("--partition-by writes a Parquet dataset: use --format parquet")
    if jobs is not None and jobs < 0:
        raise UsageError("--jobs must be 0 (every core) or more")
    step_range = StepRange.coerce(steps)
    reader = LogReader(paths, runs=runs, tags=tags, purge=purge, skip_corrupt=skip_corrupt)
    out = ExportOutput(
        output, kinds, fmt, partition_by=partition_by, overwrite=overwrite, inputs=reader.paths
    )
    result = ExportResult(output, fmt)
    with out:
        sinks = _write_tables(
            reader, out, kinds, result, step_range=step_range, explode=explode, wide=wide,
            metric_agg=metric_agg, metrics=metrics, jobs=jobs, engine=engine, progress=progress,
        )  # fmt: skip
        if result.total_rows:
            out.commit()
            result.paths = {kind: out.table_path(kind) for kind in sinks}
    result.problems = reader.problems
    result.rows = {kind: result.rows.get(kind, 0) for kind in kinds}
    return result


def _write_tables(
    reader: LogReader,
    out: ExportOutput,
    kinds: list[str],
    result: ExportResult,
    *,
    step_range: StepRange | None,
    explode: bool,
    wide: bool,
    metric_agg: str,
    metrics: Sequence[str],
    jobs: int | None,
    engine: str,
    progress: Progress | None,
) -> list[str]:
    """Read and convert every kind into the output's sinks (tables, and media files); the
    kinds written. A table is started by its first row, so that an export of nothing
    writes nothing; once anything matched, every kind asked for gets its table, with its
    full schema even when empty."""
    media = {kind: MediaWriter(out.media_base, kind) for kind in kinds if kind in MEDIA_KINDS}
    sinks: dict[str, Sink] = {}
    schemas: dict[str, pa.Schema] = {}  # of empty batches, before the table has a row
    wide_parts: list[pa.RecordBatch] = []

    def write(kind: str, batch: pa.RecordBatch, *, empty_ok: bool = False) -> None:
        sink = sinks.get(kind)
        if sink is None:
            if not batch.num_rows and not empty_ok:
                schemas[kind] = batch.schema
                return
            sink = sinks[kind] = out.sink(kind, batch.schema)
        sink.write(batch)
        result.rows[kind] = result.rows.get(kind, 0) + batch.num_rows

    try:
        for kind, batch in iter_batches(
            reader, kinds, steps=step_range, engine=engine, progress=progress,
            metric_agg=metric_agg, jobs=jobs, metric_aggs=metric_aggregates(metrics),
        ):  # fmt: skip
            batch = names.plain(batch)  # files hold run and tag as strings (contract.md)
            if kind in media:
                batch = media[kind].convert(kind, batch)
            elif kind == "histograms" and explode:
                batch = exploded_histograms(batch)
            elif kind == "scalars" and wide:
                wide_parts.append(batch)
                continue
            write(kind, batch)
        if wide and "scalars" in kinds:
            from tbtool.reading.frames import to_frame, wide_scalars  # pandas: only --wide needs it

            table = pa.Table.from_batches(wide_parts, schema=SCHEMAS["scalars"])
            pivot = pa.Table.from_pandas(wide_scalars(to_frame(table)), preserve_index=False)
            for batch in pivot.to_batches() or [_empty(pivot.schema)]:
                write("scalars", batch)
        if sinks:
            for kind in kinds:
                if kind not in sinks:
                    schema = schemas.get(kind) or _schema(kind, explode)
                    write(kind, _empty(schema), empty_ok=True)
    except BaseException:
        for sink in sinks.values():
            with contextlib.suppress(Exception):
                sink.close()
        raise
    for sink in sinks.values():
        sink.close()
    result.media_files = sum(m.files for m in media.values())
    return list(sinks)


def _schema(kind: str, explode: bool) -> pa.Schema:
    if kind == "hparams":
        return HParamsCollector().table().schema
    if kind in MEDIA_KINDS:
        return index_schema(kind)
    if kind == "histograms" and explode:
        return EXPLODED_SCHEMA
    if kind == "scalars":
        return SCHEMAS["scalars"]
    return SCHEMAS[kind]
