"""pandas DataFrames and Arrow tables per kind, in the long form of contract.md.

``read_scalars("runs")`` gives columns ``run, tag, step, wall_time, value``; rows are in read
order (runs by name, then each run's files and records in order), after purge semantics.
Every ``read_*`` takes a path, a list of paths or a :class:`~tbtool.LogReader`, the
reader's options (``runs``, ``tags``: a string is one pattern; ``purge``, ``skip_corrupt``),
``steps`` (``N``, ``slice(A, B)``, ``"A:B"`` or a :class:`~tbtool.reading.reader.StepRange`),
``engine`` (``"auto"``: the bulk decoder; ``"events"``: the per-event iterator; both give
identical frames) and ``jobs`` (processes
reading files: default 1, as a library never starts processes in its caller's program
unasked; ``0`` as many as pay (1 on 2 cores); see
:func:`~tbtool.columnar.parallel.auto_jobs`; the frame is the same). :func:`read_table` gives
the same data as a ``pyarrow.Table``. The schemas are in :data:`tbtool.columnar.table_rows.SCHEMAS`.
``run`` and ``tag`` come dictionary-encoded (a pandas ``category``; a ``dictionary<int32,
string>`` in Arrow), so names are held once; ``categorical=False`` gives plain strings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from tbtool.columnar.table_rows import check_kinds
from tbtool.columnar.whole import Names, WholeTable
from tbtool.errors import UsageError
from tbtool.reading.aggregates import MetricSpec, metric_aggregates
from tbtool.reading.reader import Reader, StepRange
from tbtool.reading.tables import collect_tables
from tbtool.runs.logdir import as_patterns

PathArg = str | os.PathLike | Sequence[str | os.PathLike]

SCALAR_COLUMNS = ["run", "tag", "step", "wall_time", "value"]


def _reader(
    path: PathArg | Reader,
    runs: str | Sequence[str],
    tags: str | Sequence[str],
    purge: bool,
    skip_corrupt: bool,
) -> Reader:
    if not isinstance(path, Reader):
        return Reader(path, runs=runs, tags=tags, purge=purge, skip_corrupt=skip_corrupt)
    given = {
        "runs": bool(as_patterns(runs, "runs")),
        "tags": bool(as_patterns(tags, "tags")),
        "purge": purge is not True,
        "skip_corrupt": skip_corrupt is not False,
    }
    if any(given.values()):
        names = ", ".join(f"{name}=" for name, set_ in given.items() if set_)
        raise TypeError(f"{names} apply when reading paths: give them to the Reader instead")
    return path


def read_table(
    path: PathArg | Reader,
    kind: str = "scalars",
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    steps: int | slice | str | StepRange | None = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    jobs: int | None = None,
    engine: str = "auto",
    metric_agg: str = "last",
    metrics: Sequence[str | MetricSpec] = (),
    categorical: bool = True,
) -> pa.Table:
    """One kind (``scalars``, ``histograms``, ``hparams``, ``text``, ``images``, ``audio``,
    ``tensors``, ``pr_curves``; singular names too) as a ``pyarrow.Table``. The options are
    those of :func:`read_scalars`; hparams: ``metrics`` (``TAG=AGG`` specs,
    :mod:`tbtool.reading.aggregates`) choose the aggregate per metric, ``metric_agg`` the rest's.
    ``categorical=False``: ``run`` and ``tag`` as plain strings."""
    return _read(
        path, kind, runs=runs, tags=tags, steps=steps, purge=purge, skip_corrupt=skip_corrupt,
        jobs=jobs, engine=engine, metric_agg=metric_agg, metrics=metrics, categorical=categorical,
    ).table()  # fmt: skip


def _read(
    path: PathArg | Reader,
    kind: str,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    steps: int | slice | str | StepRange | None = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    jobs: int | None = None,
    engine: str = "auto",
    metric_agg: str = "last",
    metrics: Sequence[str | MetricSpec] = (),
    categorical: bool = True,
) -> WholeTable:
    """The columns of one kind's table, built in place (:func:`read_table`'s options)."""
    if kind == "all":
        raise UsageError(
            "read_table reads one kind; use tbtool.reading.tables.read_tables for several"
        )
    (kind,) = check_kinds([kind])
    reader = _reader(path, runs, tags, purge, skip_corrupt)
    if jobs is not None and jobs < 0:
        raise UsageError("jobs must be 0 (every core) or more")
    tables = collect_tables(
        reader, [kind], steps=StepRange.coerce(steps), engine=engine, metric_agg=metric_agg,
        jobs=jobs, metric_aggs=metric_aggregates(metrics), categorical=categorical,
    )  # fmt: skip
    return tables[kind]


def to_frame(table: pa.Table) -> pd.DataFrame:
    """A pandas DataFrame of an export table: dictionary-encoded columns as ``category``,
    strings as the ``string`` dtype, numbers as numpy dtypes, list columns as numpy arrays,
    binary columns (images, audio) as ``binary[pyarrow]``: each item is ``bytes``, and the
    blobs stay in Arrow's buffers instead of becoming a Python object each."""
    return table.to_pandas(types_mapper=_STRINGS.get)


_STRINGS = {
    pa.string(): pd.StringDtype(),
    pa.large_string(): pd.StringDtype(),
    pa.binary(): pd.ArrowDtype(pa.binary()),
}


def _categories(names: list[str]) -> pd.CategoricalDtype:
    """The dtype pyarrow gives a dictionary of ``names`` (what :func:`to_frame` gives;
    tests hold them equal)."""
    return pd.CategoricalDtype(pd.Index(names))


def whole_frame(whole: WholeTable) -> pd.DataFrame:
    """:func:`to_frame` of a table read whole, without copying its numbers or names: the
    numpy columns become the DataFrame's own (writable) columns, names categories over
    their codes; the rest converts as in :func:`to_frame`, releasing its Arrow memory
    column by column."""
    columns = dict(zip(whole.schema.names, whole.columns, strict=True))
    whole.columns = []
    data: dict[str, Any] = {}
    rest: dict[str, pa.Array] = {}
    for name, column in columns.items():
        if isinstance(column, np.ndarray):
            data[name] = column
        elif isinstance(column, Names) and whole.categorical:
            data[name] = pd.Categorical.from_codes(column.codes, dtype=_categories(column.names))
        else:
            rest[name] = column.arrow(False) if isinstance(column, Names) else column
    columns.clear()
    if rest:
        table = pa.table(rest)
        rest.clear()
        frame = table.to_pandas(types_mapper=_STRINGS.get, self_destruct=True)
        del table
        data.update({name: frame[name] for name in frame.columns})
    return pd.DataFrame({name: data[name] for name in whole.schema.names}, copy=False)


def read_frame(
    path: PathArg | Reader,
    kind: str = "scalars",
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    steps: int | slice | str | StepRange | None = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    jobs: int | None = None,
    engine: str = "auto",
    metric_agg: str = "last",
    metrics: Sequence[str | MetricSpec] = (),
    categorical: bool = True,
) -> pd.DataFrame:
    """One kind as a pandas DataFrame (:func:`read_table`'s options; the ``read_*`` below
    name the kind)."""
    return whole_frame(
        _read(path, kind, runs=runs, tags=tags, steps=steps, purge=purge, skip_corrupt=skip_corrupt,
        jobs=jobs, engine=engine, metric_agg=metric_agg, metrics=metrics, categorical=categorical,)
    )  # fmt: skip


def read_scalars(
    path: PathArg | Reader,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    steps: int | slice | str | StepRange | None = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    jobs: int | None = None,
    engine: str = "auto",
    categorical: bool = True,
) -> pd.DataFrame:
    """Scalars as ``run, tag, step, wall_time, value`` (float64).

    ``path``: a logdir, run directory or event file (or URL), a list of them, or a
    :class:`~tbtool.LogReader` (which then brings its own runs, tags, purge and
    skip_corrupt). ``runs``: regular expressions searched in run names, ``tags``: glob
    patterns (each a string for one pattern, or a sequence). ``steps``: ``N``,
    ``slice(A, B)``, ``"A:B"`` or a :class:`~tbtool.reading.reader.StepRange`. ``purge``: restart
    semantics; ``skip_corrupt``: skip damaged records instead of raising. ``jobs``: reading
    processes (default 1; ``0`` as many as pay). ``engine``: ``"auto"`` (bulk decoder) or
    ``"events"`` (per-event iterator, the same frame). ``categorical``: ``run`` and ``tag``
    as pandas ``category`` (default) or, when false, plain strings."""
    return read_frame(
        path, "scalars", runs=runs, tags=tags, steps=steps, purge=purge,
        skip_corrupt=skip_corrupt, jobs=jobs, engine=engine,
        categorical=categorical,
    )  # fmt: skip


def read_histograms(
    path: PathArg | Reader,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    steps: int | slice | str | StepRange | None = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    jobs: int | None = None,
    engine: str = "auto",
    categorical: bool = True,
) -> pd.DataFrame:
    """Histograms: ``run, tag, step, wall_time, min, max, num, sum, sum_squares`` and the
    buckets as arrays ``bucket_left, bucket_right, bucket_count``. Options as in
    :func:`read_scalars`."""
    return read_frame(
        path, "histograms", runs=runs, tags=tags, steps=steps, purge=purge,
        skip_corrupt=skip_corrupt, jobs=jobs, engine=engine,
        categorical=categorical,
    )  # fmt: skip


def read_text(
    path: PathArg | Reader,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    steps: int | slice | str | StepRange | None = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    jobs: int | None = None,
    engine: str = "auto",
    categorical: bool = True,
) -> pd.DataFrame:
    """Text values: ``run, tag, step, wall_time, text`` (tables and lists as JSON). Options
    as in :func:`read_scalars`."""
    return read_frame(
        path, "text", runs=runs, tags=tags, steps=steps, purge=purge,
        skip_corrupt=skip_corrupt, jobs=jobs, engine=engine,
        categorical=categorical,
    )  # fmt: skip


def read_hparams(
    path: PathArg | Reader,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    steps: int | slice | str | StepRange | None = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    jobs: int | None = None,
    engine: str = "auto",
    metric_agg: str = "last",
    metrics: Sequence[str | MetricSpec] = (),
    categorical: bool = True,
) -> pd.DataFrame:
    """One row per hparams session: ``run``, a column per hyperparameter (float64, bool or
    string), a column per metric (``metric_agg``: ``last`` value, or ``min``, ``max``,
    ``mean``, ``best``; per metric with ``metrics=["loss/val=min"]``), ``status``,
    ``start_time``, ``end_time``. Other options as in :func:`read_scalars`."""
    return read_frame(
        path, "hparams", runs=runs, tags=tags, steps=steps, purge=purge,
        skip_corrupt=skip_corrupt, jobs=jobs, engine=engine, metric_agg=metric_agg,
        metrics=metrics,
        categorical=categorical,
    )  # fmt: skip


def read_images(
    path: PathArg | Reader,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    steps: int | slice | str | StepRange | None = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    jobs: int | None = None,
    engine: str = "auto",
    categorical: bool = True,
) -> pd.DataFrame:
    """One row per image: ``run, tag, step, wall_time, sample, width, height, format,
    data`` (the encoded bytes). Options as in :func:`read_scalars`."""
    return read_frame(
        path, "images", runs=runs, tags=tags, steps=steps, purge=purge,
        skip_corrupt=skip_corrupt, jobs=jobs, engine=engine,
        categorical=categorical,
    )  # fmt: skip


def read_audio(
    path: PathArg | Reader,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    steps: int | slice | str | StepRange | None = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    jobs: int | None = None,
    engine: str = "auto",
    categorical: bool = True,
) -> pd.DataFrame:
    """One row per clip: ``run, tag, step, wall_time, sample, sample_rate, frames, channels,
    content_type, label, format, data`` (the encoded bytes). Options as in
    :func:`read_scalars`."""
    return read_frame(
        path, "audio", runs=runs, tags=tags, steps=steps, purge=purge,
        skip_corrupt=skip_corrupt, jobs=jobs, engine=engine,
        categorical=categorical,
    )  # fmt: skip


def read_tensors(
    path: PathArg | Reader,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    steps: int | slice | str | StepRange | None = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    jobs: int | None = None,
    engine: str = "auto",
    categorical: bool = True,
) -> pd.DataFrame:
    """Tensors no other kind claims: ``run, tag, step, wall_time, plugin_name, dtype, shape``,
    ``values`` (flattened, float64), ``strings`` (for string tensors), ``error``. Options as
    in :func:`read_scalars`."""
    return read_frame(
        path, "tensors", runs=runs, tags=tags, steps=steps, purge=purge,
        skip_corrupt=skip_corrupt, jobs=jobs, engine=engine,
        categorical=categorical,
    )  # fmt: skip


def read_pr_curves(
    path: PathArg | Reader,
    *,
    runs: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    steps: int | slice | str | StepRange | None = None,
    purge: bool = True,
    skip_corrupt: bool = False,
    jobs: int | None = None,
    engine: str = "auto",
    categorical: bool = True,
) -> pd.DataFrame:
    """One row per threshold: ``run, tag, step, wall_time, threshold, true_positives,
    false_positives, true_negatives, false_negatives, precision, recall``. Options as in
    :func:`read_scalars`."""
    return read_frame(
        path, "pr_curves", runs=runs, tags=tags, steps=steps, purge=purge,
        skip_corrupt=skip_corrupt, jobs=jobs, engine=engine,
        categorical=categorical,
    )  # fmt: skip


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
