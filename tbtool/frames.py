"""pandas DataFrames per kind, in the long form of contract.md.

``read_scalars("runs")`` gives columns ``run, tag, step, wall_time, value``; rows are in read
order (runs by name, then each run's files and records in order), after purge semantics.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tbtool.reader import LogReader
from tbtool.values import Histogram, HParams, LoggedValue, Scalar, Text

PathArg = str | os.PathLike | Sequence[str | os.PathLike]

SCALAR_COLUMNS = ["run", "tag", "step", "wall_time", "value"]
HISTOGRAM_COLUMNS = [
    "run",
    "tag",
    "step",
    "wall_time",
    "min",
    "max",
    "num",
    "sum",
    "sum_squares",
    "bucket_left",
    "bucket_right",
    "bucket_count",
]
TEXT_COLUMNS = ["run", "tag", "step", "wall_time", "text"]


def _reader(path: PathArg | LogReader, options: dict[str, Any]) -> LogReader:
    return path if isinstance(path, LogReader) else LogReader(path, **options)


def _base_frame(rows: dict[str, list], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({c: rows[c] for c in columns}, columns=columns)
    return frame.astype({"run": "string", "tag": "string", "step": "int64", "wall_time": "float64"})


def _collect(
    values: Iterable[LoggedValue], columns: list[str], extra: Callable[[Any], dict[str, Any]]
) -> pd.DataFrame:
    rows: dict[str, list] = {c: [] for c in columns}
    for item in values:
        rows["run"].append(item.run)
        rows["tag"].append(item.tag)
        rows["step"].append(item.step)
        rows["wall_time"].append(item.wall_time)
        for name, value in extra(item.value).items():
            rows[name].append(value)
    return _base_frame(rows, columns)


def read_scalars(path: PathArg | LogReader, **options: Any) -> pd.DataFrame:
    """Scalars as ``run, tag, step, wall_time, value`` (float64).

    ``options`` are :class:`~tbtool.reader.LogReader`'s: ``runs``, ``tags``, ``purge``,
    ``skip_corrupt``.
    """
    reader = _reader(path, options)

    def extra(value: Scalar) -> dict[str, Any]:
        return {"value": value.value}

    frame = _collect(reader.values(["scalar"]), SCALAR_COLUMNS, extra)
    return frame.astype({"value": "float64"})


def histogram_stats(h: Histogram) -> dict[str, Any]:
    """Row fields of one histogram; statistics a ``[k, 3]`` tensor lacks are derived from its
    buckets (min, max, num) or NaN (sum, sum_squares)."""
    empty = not len(h.count)
    return {
        "min": h.min if h.min is not None else (math.nan if empty else float(h.left[0])),
        "max": h.max if h.max is not None else (math.nan if empty else float(h.right[-1])),
        "num": h.num if h.num is not None else h.total,
        "sum": h.sum if h.sum is not None else math.nan,
        "sum_squares": h.sum_squares if h.sum_squares is not None else math.nan,
        "bucket_left": h.left.tolist(),
        "bucket_right": h.right.tolist(),
        "bucket_count": h.count.tolist(),
    }


def read_histograms(path: PathArg | LogReader, **options: Any) -> pd.DataFrame:
    """Histograms: ``run, tag, step, wall_time, min, max, num, sum, sum_squares`` and list
    columns ``bucket_left, bucket_right, bucket_count``."""
    reader = _reader(path, options)
    frame = _collect(reader.values(["histogram"]), HISTOGRAM_COLUMNS, histogram_stats)
    return frame.astype({c: "float64" for c in ("min", "max", "num", "sum", "sum_squares")})


def text_of(value: Text) -> str:
    """One string for a text value: the string itself, or JSON of a table/list."""
    if value.array.size == 1:
        return str(value.array.reshape(-1)[0])
    return json.dumps(value.array.tolist(), ensure_ascii=False)


def read_text(path: PathArg | LogReader, **options: Any) -> pd.DataFrame:
    """Text values: ``run, tag, step, wall_time, text`` (tables and lists as JSON)."""
    reader = _reader(path, options)
    frame = _collect(reader.values(["text"]), TEXT_COLUMNS, lambda v: {"text": text_of(v)})
    return frame.astype({"text": "string"})


def _metric_column(name: dict[str, Any]) -> str:
    group, tag = name.get("group", ""), name.get("tag", "")
    return f"{group}/{tag}" if group else tag


def _session_of(run: str, sessions: list[str]) -> str | None:
    """The session run a run belongs to: itself or its nearest ancestor (hparams "group")."""
    best = None
    for session in sessions:
        contains = session == "." or run == session or run.startswith(session + "/")
        if contains and (best is None or len(session) > len(best)):
            best = session
    return best


def read_hparams(path: PathArg | LogReader, **options: Any) -> pd.DataFrame:
    """One row per hparams session: ``run``, a column per hyperparameter (float64, bool or
    string), a column per metric (its final value, taken from the session run and its
    sub-runs like TensorBoard does) and ``status``."""
    reader = _reader(path, options)
    starts: dict[str, dict[str, Any]] = {}
    status: dict[str, str] = {}
    metric_names: list[dict[str, Any]] = []
    last_scalar: dict[tuple[str, str], tuple[int, float]] = {}
    for item in reader.values(["hparams", "scalar"]):
        value = item.value
        if isinstance(value, Scalar):
            last_scalar[(item.run, item.tag)] = (item.step, value.value)
        elif isinstance(value, HParams):
            if value.part == "session_start_info":
                starts[item.run] = value.hparams
            elif value.part == "session_end_info":
                status[item.run] = value.data.get("status", "STATUS_UNKNOWN")
            elif value.part == "experiment":
                for info in value.data.get("metric_infos", []):
                    if info.get("name") not in metric_names:
                        metric_names.append(info.get("name", {}))
    sessions = sorted(starts)
    if not metric_names:  # no experiment: every scalar tag of the sessions is a metric
        tags = {tag for run, tag in last_scalar if _session_of(run, sessions) is not None}
        metric_names = [{"tag": t} for t in sorted(tags)]
    rows = []
    for session in sessions:
        row: dict[str, Any] = {"run": session, **starts[session]}
        for name in metric_names:
            row[_metric_column(name)] = _final_metric(session, name, sessions, last_scalar)
        row["status"] = status.get(session, "STATUS_UNKNOWN")
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame({"run": pd.Series(dtype="string"), "status": pd.Series(dtype="string")})
    return frame.astype({"run": "string", "status": "string"})


def _final_metric(
    session: str,
    name: dict[str, Any],
    sessions: list[str],
    last_scalar: dict[tuple[str, str], tuple[int, float]],
) -> float:
    group, tag = name.get("group", ""), name.get("tag", "")
    run = session if not group else (group if session == "." else f"{session}/{group}")
    found = last_scalar.get((run, tag))
    if found is None and not group:
        # Metric logged in a sub-run of the session (e.g. Keras train/ and validation/).
        candidates = [
            (step, v)
            for (r, t), (step, v) in last_scalar.items()
            if t == tag and _session_of(r, sessions) == session
        ]
        found = max(candidates) if candidates else None
    return found[1] if found is not None else np.nan
