"""One row per run: its hyperparameters, how far it got and the numbers a person asks for.

:func:`summarize` is what ``tbtool summary`` prints and ``tbtool report`` puts at its top. A
run's row holds ``run``, a column per hyperparameter (from the hparams session of the run or
of the nearest directory above it), ``steps`` (distinct steps with a scalar), ``last_step``,
``duration`` (seconds between its first and last scalar's wall time), and per metric its value
and the step where it was reached. Metrics are ``TAG=AGG`` specs (:mod:`tbtool.reading.aggregates`);
by default the last value of every scalar tag. Everything comes from one pass over the data
through the batch path; a run is listed when it has a scalar or an hparams session.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tbtool.columnar.walk import Progress
from tbtool.errors import UsageError
from tbtool.reading.aggregates import MetricSpec, aggregate, lower_is_better, parse_metrics, resolve
from tbtool.reading.hparams import hparam_columns
from tbtool.reading.log_reader import LogReader
from tbtool.reading.reader import StepRange, Steps
from tbtool.reading.tables import iter_batches
from tbtool.values.typed import json_float

FIXED_COLUMNS = ("run", "steps", "last_step", "duration")


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric of a summary: a tag, its aggregate, and the columns that hold it."""

    tag: str
    aggregate: str
    column: str
    step_column: str | None  # None for mean: no single step

    @property
    def higher_is_better(self) -> bool:
        agg = resolve(self.aggregate, self.tag)
        return agg == "max" or (agg != "min" and not lower_is_better(self.tag))


@dataclass
class ScalarColumns:
    """Every scalar read, as parallel arrays with run and tag ids (read order kept)."""

    runs: list[str]
    tags: list[str]
    run: np.ndarray
    tag: np.ndarray
    step: np.ndarray
    wall_time: np.ndarray
    value: np.ndarray

    def series(self) -> dict[tuple[int, int], np.ndarray]:
        """Row numbers of each (run id, tag id) series, in read order."""
        key = self.run.astype(np.int64) * max(1, len(self.tags)) + self.tag
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]]) if len(key) else []
        ends = [*starts[1:], len(key)]
        width = max(1, len(self.tags))
        return {
            divmod(int(sorted_key[s]), width): order[s:e] for s, e in zip(starts, ends, strict=True)
        }


def collect(batches: Sequence[pa.RecordBatch]) -> ScalarColumns:
    """Scalar record batches (the ``scalars`` table schema) as id-coded arrays."""
    runs: dict[str, int] = {}
    tags: dict[str, int] = {}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("run", "tag", "step", "wall", "value")}
    for batch in batches:
        for name, ids in (("run", runs), ("tag", tags)):
            encoded = pc.dictionary_encode(batch.column(name))
            indices = encoded.indices.to_numpy(zero_copy_only=False)
            # a batch's dictionary may hold names none of its rows use
            used = np.bincount(indices, minlength=len(encoded.dictionary)) > 0
            mapping = np.array(
                [
                    ids.setdefault(s, len(ids)) if u else -1
                    for s, u in zip(encoded.dictionary.to_pylist(), used.tolist(), strict=True)
                ],
                dtype=np.int32,
            )
            parts[name].append(mapping[indices])
        parts["step"].append(batch.column("step").to_numpy())
        parts["wall"].append(batch.column("wall_time").to_numpy())
        parts["value"].append(batch.column("value").to_numpy())

    def joined(name: str, dtype: Any) -> np.ndarray:
        return np.concatenate(parts[name]) if parts[name] else np.zeros(0, dtype=dtype)

    return ScalarColumns(
        list(runs),
        list(tags),
        joined("run", np.int32),
        joined("tag", np.int32),
        joined("step", np.int64),
        joined("wall", np.float64),
        joined("value", np.float64),
    )


def choose_metrics(specs: Sequence[MetricSpec], tags: Sequence[str]) -> list[Metric]:
    """The metrics specs select among ``tags`` (each spec's matches in tag order); a spec
    that matches nothing is a usage error (a typo should not pass a CI job silently)."""
    chosen: list[Metric] = []
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        matched = sorted(t for t in tags if spec.matches(t))
        if not matched:
            known = ", ".join(sorted(tags)) or "none"
            raise UsageError(f"metric {spec.pattern!r} matches no scalar tag (tags: {known})")
        for tag in matched:
            if (tag, spec.agg) in seen:
                continue
            seen.add((tag, spec.agg))
            column = f"{tag} {spec.agg}"
            step = None if spec.agg == "mean" else f"{column} step"
            chosen.append(Metric(tag, spec.agg, column, step))
    return chosen


def session_of(run: str, sessions: Sequence[str]) -> str | None:
    """The hparams session a run belongs to: itself, else the nearest directory above it."""
    best = None
    for session in sessions:
        inside = session == "." or run == session or run.startswith(session + "/")
        if inside and (best is None or len(session) > len(best)):
            best = session
    return best


def summarize(
    path: str | os.PathLike | Sequence[str | os.PathLike] | LogReader,
    *,
    metrics: Sequence[str | MetricSpec] = (),
    sort: str | None = None,
    ascending: bool | None = None,
    top: int | None = None,
    steps: Steps = None,
    jobs: int | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> pd.DataFrame:
    """The summary table of PATH(s) (or a :class:`~tbtool.LogReader`), one row per
    run. ``metrics``: ``TAG=AGG`` specs (default: ``*=last``); ``sort``: a column, a tag or
    a ``TAG=AGG`` spec, best first unless ``ascending`` says otherwise; ``top``: keep that
    many rows. ``options``: the reader's (``runs``, ``tags``, ``purge``, ``skip_corrupt``).
    ``df.attrs["metrics"]`` describes the metric columns, ``df.attrs["hparams"]`` names the
    hyperparameter columns."""
    reader = path if isinstance(path, LogReader) else LogReader(path, **options)
    if options and isinstance(path, LogReader):
        raise TypeError(f"unexpected options with a reader: {', '.join(options)}")
    if top is not None and top < 0:
        raise UsageError("--top must be 0 or more")
    step_range = StepRange.coerce(steps)
    batches: list[pa.RecordBatch] = []
    hparams = None
    for kind, batch in iter_batches(
        reader, ["scalars", "hparams"], steps=step_range, jobs=jobs, progress=progress
    ):
        if kind == "scalars":
            batches.append(batch)
        else:
            hparams = batch if hparams is None else pa.concat_batches([hparams, batch])
    frame = summary_of(batches, pa.Table.from_batches([hparams]) if hparams else None, metrics)
    if top is not None and sort is None:
        if not metrics:
            raise UsageError("--top needs --sort (or a --metric to rank by)")
        sort = frame.attrs["metrics"][0]["column"]
    if sort is not None:
        frame = sort_summary(frame, sort, ascending)
    return frame.head(top) if top is not None else frame


def summary_of(
    scalars: Sequence[pa.RecordBatch],
    hparams: pa.Table | None,
    metrics: Sequence[str | MetricSpec] = (),
) -> pd.DataFrame:
    """The summary of tables already read: ``scalars`` batches (the export schema) and the
    hparams table (or ``None``); what :func:`summarize` does after reading."""
    columns = collect(scalars)
    chosen = choose_metrics(parse_metrics(metrics) or [MetricSpec("*")], columns.tags)
    return _frame(columns, chosen, hparams)


def _frame(scalars: ScalarColumns, metrics: list[Metric], hparams: pa.Table | None) -> pd.DataFrame:
    series = scalars.series()
    by_run: dict[int, list[np.ndarray]] = {}
    for (rid, _), rows_of in series.items():
        by_run.setdefault(rid, []).append(rows_of)
    sessions: list[str] = hparams.column("run").to_pylist() if hparams is not None else []
    hp_names = hparam_columns(hparams) if hparams is not None else []
    names = sorted(set(scalars.runs) | set(sessions))
    run_ids = {name: i for i, name in enumerate(scalars.runs)}
    tag_ids = {tag: i for i, tag in enumerate(scalars.tags)}
    hp_values = {name: hparams.column(name).to_pylist() for name in hp_names} if hparams else {}
    rows: list[dict[str, Any]] = []
    for name in names:
        row: dict[str, Any] = {"run": name}
        session = session_of(name, sessions)
        for hp in hp_names:
            column = hp if hp not in FIXED_COLUMNS else f"hparam {hp}"
            row[column] = hp_values[hp][sessions.index(session)] if session is not None else None
        rid = run_ids.get(name)
        mine = np.concatenate(by_run[rid]) if rid in by_run else np.zeros(0, dtype=np.int64)
        run_steps = scalars.step[mine]
        walls = scalars.wall_time[mine]
        walls = walls[np.isfinite(walls)]
        row["steps"] = len(np.unique(run_steps))
        row["last_step"] = int(run_steps.max()) if len(run_steps) else None
        row["duration"] = float(walls.max() - walls.min()) if len(walls) else np.nan
        for metric in metrics:
            rows_of = series.get((rid, tag_ids[metric.tag])) if rid is not None else None
            if rows_of is None:
                value, step = np.nan, None
            else:
                value, step = aggregate(
                    scalars.value[rows_of], scalars.step[rows_of], metric.aggregate, metric.tag
                )
            row[metric.column] = value
            if metric.step_column is not None:
                row[metric.step_column] = step
        rows.append(row)
    columns = ["run", *(h if h not in FIXED_COLUMNS else f"hparam {h}" for h in hp_names)]
    columns += ["steps", "last_step", "duration"]
    for metric in metrics:
        columns += [metric.column] + ([metric.step_column] if metric.step_column else [])
    frame = pd.DataFrame(rows, columns=columns)
    frame["run"] = frame["run"].astype(pd.StringDtype())
    frame["steps"] = frame["steps"].astype("int64")
    frame["duration"] = frame["duration"].astype("float64")
    for column in ["last_step", *(m.step_column for m in metrics if m.step_column)]:
        frame[column] = frame[column].astype("Int64")
    for metric in metrics:
        frame[metric.column] = frame[metric.column].astype("float64")
    frame.attrs["metrics"] = [
        {"tag": m.tag, "aggregate": m.aggregate, "column": m.column, "step_column": m.step_column}
        for m in metrics
    ]
    frame.attrs["hparams"] = columns[1 : 1 + len(hp_names)]
    return frame


def metrics_of(frame: pd.DataFrame) -> list[Metric]:
    """The metrics a :func:`summarize` frame holds."""
    return [
        Metric(m["tag"], m["aggregate"], m["column"], m["step_column"])
        for m in frame.attrs.get("metrics", [])
    ]


def sort_key(frame: pd.DataFrame, key: str) -> tuple[str, bool]:
    """``(column, best-first ascending)`` for a ``--sort`` key: a column name, a ``TAG=AGG``
    spec or a tag with one metric column."""
    metrics = metrics_of(frame)
    by_column = {m.column: m for m in metrics}
    spec = MetricSpec.parse(key)
    candidates = [m for m in metrics if m.tag == key]
    if key in frame.columns:
        metric = by_column.get(key)
    elif f"{spec.pattern} {spec.agg}" in by_column and "=" in key:
        metric = by_column[f"{spec.pattern} {spec.agg}"]
    elif len(candidates) == 1:
        metric = candidates[0]
    elif candidates:
        options = ", ".join(f"'{m.tag}={m.aggregate}'" for m in candidates)
        raise UsageError(f"--sort {key!r} is ambiguous: say one of {options}")
    else:
        columns = ", ".join(str(c) for c in frame.columns)
        raise UsageError(f"--sort {key!r} is not a column, tag or metric (columns: {columns})")
    if metric is None:
        return key, True
    return metric.column, not metric.higher_is_better


def sort_summary(frame: pd.DataFrame, key: str, ascending: bool | None = None) -> pd.DataFrame:
    """Rows sorted by ``key`` (see :func:`sort_key`), best first by default, NaN last."""
    column, best_first = sort_key(frame, key)
    order = best_first if ascending is None else ascending
    out = frame.sort_values(column, ascending=order, na_position="last", kind="stable")
    out = out.reset_index(drop=True)
    out.attrs = frame.attrs
    return out


# -- the table as text: shared by the terminal table, Markdown and the HTML report ----------
def format_number(value: Any) -> str:
    """A cell: ``-`` for missing, 6 significant digits for floats, ``true``/``false``."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return str(value)


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` (``12.3s`` under a minute)."""
    if seconds is None or not np.isfinite(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def display_table(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Headers and text cells of a summary: one column per metric showing its value, and
    ``@step`` for ``min``/``max``/``best`` (where the run reached it)."""
    metrics = {m.column: m for m in metrics_of(frame)}
    step_columns = {m.step_column for m in metrics.values()}
    headers = [str(c) for c in frame.columns if c not in step_columns]
    rows = []
    for record in frame.to_dict("records"):
        cells = []
        for column in headers:
            value = record[column]
            metric = metrics.get(column)
            text = format_duration(value) if column == "duration" else format_number(value)
            if metric is not None and metric.aggregate not in ("last", "mean"):
                step = record.get(metric.step_column or "")
                if step is not None and step is not pd.NA:
                    text += f" @{step}"
            cells.append(text)
        rows.append(cells)
    return headers, rows


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as JSON-ready dicts (missing and NaN values as ``None``)."""
    out = []
    for record in frame.to_dict("records"):
        row = {}
        for key, value in record.items():
            if value is pd.NA or (isinstance(value, float) and np.isnan(value)):
                value = None
            elif isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and np.isinf(value):
                value = json_float(value)
            row[str(key)] = value
        out.append(row)
    return out
