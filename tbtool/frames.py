"""pandas DataFrames and Arrow tables per kind, in the long form of contract.md.

``read_scalars("runs")`` gives columns ``run, tag, step, wall_time, value``; rows are in read
order (runs by name, then each run's files and records in order), after purge semantics.
Every ``read_*`` takes a path, a list of paths or a :class:`~tbtool.reader.LogReader`, the
reader's options (``runs``, ``tags``, ``purge``, ``skip_corrupt``), ``steps`` (``"A:B"`` or a
:class:`~tbtool.reader.StepRange`) and ``engine`` (``"auto"``: the bulk decoder;
``"events"``: the per-event iterator; both give identical frames) and ``jobs`` (processes
reading files: default 1, as a library never starts processes in its caller's program
unasked; ``0`` as many as pay (1 on 2 cores); see
:func:`~tbtool.columnar.parallel.auto_jobs`; the frame is the same). :func:`read_table` gives
the same data as a ``pyarrow.Table``. The schemas are in :data:`tbtool.tables.SCHEMAS`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from tbtool.aggregates import MetricSpec, metric_aggregates
from tbtool.errors import UsageError
from tbtool.reader import LogReader, StepRange
from tbtool.tables import check_kinds, read_tables

PathArg = str | os.PathLike | Sequence[str | os.PathLike]

SCALAR_COLUMNS = ["run", "tag", "step", "wall_time", "value"]
_READER_OPTIONS = ("runs", "tags", "purge", "skip_corrupt")


def _reader(path: PathArg | LogReader, options: dict[str, Any]) -> LogReader:
    if isinstance(path, LogReader):
        return path
    return LogReader(path, **{k: options.pop(k) for k in _READER_OPTIONS if k in options})


def read_table(
    path: PathArg | LogReader,
    kind: str = "scalars",
    *,
    steps: str | StepRange | None = None,
    engine: str = "auto",
    metric_agg: str = "last",
    metrics: Sequence[str | MetricSpec] = (),
    jobs: int | None = None,
    **options: Any,
) -> pa.Table:
    """One kind (``scalars``, ``histograms``, ``hparams``, ``text``, ``images``, ``audio``,
    ``tensors``, ``pr_curves``) as a ``pyarrow.Table``. hparams: ``metrics`` (``TAG=AGG``
    specs, :mod:`tbtool.aggregates`) choose the aggregate per metric, ``metric_agg`` the
    rest's."""
    if kind == "all":
        raise UsageError("read_table reads one kind; use tbtool.tables.read_tables for several")
    (kind,) = check_kinds([kind])
    reader = _reader(path, options)
    if options:
        raise TypeError(f"unexpected options: {', '.join(options)}")
    if jobs is not None and jobs < 0:
        raise UsageError("jobs must be 0 (every core) or more")
    step_range = StepRange.parse(steps) if isinstance(steps, str) else steps
    tables = read_tables(
        reader, [kind], steps=step_range, engine=engine, metric_agg=metric_agg, jobs=jobs,
        metric_aggs=metric_aggregates(metrics),
    )  # fmt: skip
    return tables[kind]


def to_frame(table: pa.Table) -> pd.DataFrame:
    """A pandas DataFrame of an export table: strings as the ``string`` dtype, numbers as
    numpy dtypes, list columns as numpy arrays, binary columns as ``bytes``."""
    mapping = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}
    return table.to_pandas(types_mapper=mapping.get)


def _frame(kind: str, path: PathArg | LogReader, options: dict[str, Any]) -> pd.DataFrame:
    return to_frame(read_table(path, kind, **options))


def read_scalars(path: PathArg | LogReader, **options: Any) -> pd.DataFrame:
    """Scalars as ``run, tag, step, wall_time, value`` (float64)."""
    return _frame("scalars", path, options)


def read_histograms(path: PathArg | LogReader, **options: Any) -> pd.DataFrame:
    """Histograms: ``run, tag, step, wall_time, min, max, num, sum, sum_squares`` and the
    buckets as arrays ``bucket_left, bucket_right, bucket_count``."""
    return _frame("histograms", path, options)


def read_text(path: PathArg | LogReader, **options: Any) -> pd.DataFrame:
    """Text values: ``run, tag, step, wall_time, text`` (tables and lists as JSON)."""
    return _frame("text", path, options)


def read_hparams(path: PathArg | LogReader, **options: Any) -> pd.DataFrame:
    """One row per hparams session: ``run``, a column per hyperparameter (float64, bool or
    string), a column per metric (``metric_agg``: ``last`` value, or ``min``, ``max``,
    ``mean``, ``best``; per metric with ``metrics=["loss/val=min"]``), ``status``,
    ``start_time``, ``end_time``."""
    return _frame("hparams", path, options)


def read_images(path: PathArg | LogReader, **options: Any) -> pd.DataFrame:
    """One row per image: ``run, tag, step, wall_time, sample, width, height, format,
    data`` (the encoded bytes)."""
    return _frame("images", path, options)


def read_audio(path: PathArg | LogReader, **options: Any) -> pd.DataFrame:
    """One row per clip: ``run, tag, step, wall_time, sample, sample_rate, frames, channels,
    content_type, label, format, data`` (the encoded bytes)."""
    return _frame("audio", path, options)


def read_tensors(path: PathArg | LogReader, **options: Any) -> pd.DataFrame:
    """Tensors no other kind claims: ``run, tag, step, wall_time, plugin_name, dtype, shape``,
    ``values`` (flattened, float64), ``strings`` (for string tensors), ``error``."""
    return _frame("tensors", path, options)


def read_pr_curves(path: PathArg | LogReader, **options: Any) -> pd.DataFrame:
    """One row per threshold: ``run, tag, step, wall_time, threshold, true_positives,
    false_positives, true_negatives, false_negatives, precision, recall``."""
    return _frame("pr_curves", path, options)


def wide_scalars(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, step), one column per tag (the last value logged at that step),
    and ``wall_time``: the latest wall time among them."""
    if frame.empty:
        return frame[["run", "step", "wall_time"]].copy()
    keyed = frame.groupby(["run", "step", "tag"], sort=False, observed=True).last()
    values = keyed["value"].unstack("tag")
    tags = [t for t in pd.unique(frame["tag"]) if t in values.columns]
    wall = frame.groupby(["run", "step"], sort=False, observed=True)["wall_time"].max()
    out = values[tags].join(wall).reset_index()
    out = out.sort_values(["run", "step"], kind="stable", ignore_index=True)
    out.columns.name = None
    return out[["run", "step", "wall_time", *tags]]
