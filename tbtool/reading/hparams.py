"""The hparams table: one row per session run, its hyperparameters, metrics and status.

A *session* is a run holding a ``_hparams_/session_start_info`` value (torch's and
tensorboardX's ``add_hparams`` sub-runs, TF's ``hp.hparams``, Keras' hparams callback). Its
metrics are scalars of the session run and of its sub-runs: an experiment's ``MetricInfo``
``{group, tag}`` names the scalar ``tag`` of run ``<session>/<group>`` (TensorBoard's
``backend_context``); without an experiment every scalar tag of the sessions is a metric. A
metric's value is its last value in read order (``metric_agg="last"``), or the ``min``,
``max``, ``mean`` or ``best`` of its values (NaN ignored; :mod:`tbtool.reading.aggregates`),
chosen per metric with ``metric_aggs`` (``{"loss/val": "min", "accuracy*": "max"}``: a
metric column's name or its tag matched against glob patterns; the first match wins) and
``metric_agg`` for the rest. Hyperparameter columns carry the field metadata
``{"tbtool.role": "hparam"}`` (:func:`hparam_columns`), so a reader of the table can tell
them from metrics.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from tbtool.columnar import arrow
from tbtool.proto import hparams_pb2
from tbtool.reading.aggregates import AGGREGATES, check_aggregate, resolve
from tbtool.values.normalize import enum_name
from tbtool.values.typed import HParams, LoggedValue

METRIC_AGGREGATES = AGGREGATES
ROLE = b"tbtool.role"


@dataclass
class _Series:
    """Running aggregates of one (run, tag) scalar series."""

    last_step: int = 0
    last: float = np.nan
    min: float = np.nan
    max: float = np.nan
    total: float = 0.0
    count: int = 0

    def value(self, agg: str, tag: str) -> float:
        agg = resolve(agg, tag)
        if agg == "last":
            return self.last
        if agg == "mean":
            return self.total / self.count if self.count else np.nan
        return self.min if agg == "min" else self.max


def _hparam_value(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return float(value.number_value)
    if kind == "bool_value":
        return bool(value.bool_value)
    if kind == "string_value":
        return value.string_value
    if kind in ("list_value", "struct_value"):
        from google.protobuf.json_format import MessageToJson

        return MessageToJson(value, indent=None)
    return None


@dataclass
class HParamsCollector:
    """Fed the hparams values and the scalars of every run, builds the table at the end."""

    metric_agg: str = "last"
    metric_aggs: dict[str, str] = field(default_factory=dict)  # pattern -> aggregate
    starts: dict[str, Any] = field(default_factory=dict)  # run -> SessionStartInfo
    ends: dict[str, Any] = field(default_factory=dict)  # run -> SessionEndInfo
    experiments: list[Any] = field(default_factory=list)
    series: dict[tuple[str, str], _Series] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_aggregate(self.metric_agg)
        for agg in self.metric_aggs.values():
            check_aggregate(agg)

    def aggregate_of(self, column: str, tag: str) -> str:
        """The aggregate of one metric column: the first pattern matching its name or its
        tag, else ``metric_agg``."""
        for pattern, agg in self.metric_aggs.items():
            if fnmatch.fnmatchcase(column, pattern) or fnmatch.fnmatchcase(tag, pattern):
                return agg
        return self.metric_agg

    def add_value(self, item: LoggedValue) -> None:
        value = item.value
        if not isinstance(value, HParams):
            return
        if value.part == "session_start_info":
            self.starts[item.run] = value.message
        elif value.part == "session_end_info":
            self.ends[item.run] = value.message
        elif value.part == "experiment":
            self.experiments.append(value.message)

    def add_scalars(self, batch: pa.RecordBatch) -> None:
        """Fold a ``scalars`` batch (rows in read order) into the per-series aggregates
        (with numpy on the name codes: pandas would cost an export 30 MB of imports)."""
        if not batch.num_rows:
            return
        run_codes, run_names = _codes(batch.column("run"))
        tag_codes, tag_names = _codes(batch.column("tag"))
        key = run_codes * max(1, len(tag_names)) + tag_codes
        groups, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        order = np.argsort(inverse, kind="stable")  # rows by series, in read order within
        ends = np.cumsum(np.bincount(inverse, minlength=len(groups)))
        values = arrow.to_numpy(batch.column("value"))[order]
        steps = arrow.to_numpy(batch.column("step"))[order]
        for g in np.argsort(first).tolist():  # series in the order they first appear
            start, end = (int(ends[g - 1]) if g else 0), int(ends[g])
            row = order[start]
            name = (run_names[run_codes[row]], tag_names[tag_codes[row]])
            s = self.series.setdefault(name, _Series())
            part = values[start:end]
            s.last = float(part[-1])
            s.last_step = int(steps[end - 1])
            finite = part[~np.isnan(part)]
            if len(finite):
                low, high = float(finite.min()), float(finite.max())
                s.min = low if np.isnan(s.min) else min(s.min, low)
                s.max = high if np.isnan(s.max) else max(s.max, high)
                s.total += float(finite.sum())
                s.count += len(finite)

    # -- the table ----------------------------------------------------------------------------
    def _session_of(self, run: str) -> str | None:
        best = None
        for session in self.starts:
            inside = session == "." or run == session or run.startswith(session + "/")
            if inside and (best is None or len(session) > len(best)):
                best = session
        return best

    def _metric_names(self) -> list[tuple[str, str]]:
        names: list[tuple[str, str]] = []
        for experiment in self.experiments:
            for info in experiment.metric_infos:
                name = (info.name.group, info.name.tag)
                if name not in names:
                    names.append(name)
        if names:
            return names
        tags = {t for (run, t) in self.series if self._session_of(run) is not None}
        return [("", t) for t in sorted(tags)]

    def _metric(self, session: str, group: str, tag: str, agg: str) -> float:
        run = session if not group else (group if session == "." else f"{session}/{group}")
        found = self.series.get((run, tag))
        if found is None and not group:
            # Logged in a sub-run of the session (e.g. Keras train/ and validation/).
            candidates = [
                s
                for (r, t), s in self.series.items()
                if t == tag and self._session_of(r) == session
            ]
            found = max(candidates, key=lambda s: s.last_step) if candidates else None
        return found.value(agg, tag) if found is not None else np.nan

    def _hparam_names(self) -> list[str]:
        names: list[str] = []
        for experiment in self.experiments:
            names.extend(h.name for h in experiment.hparam_infos if h.name not in names)
        for start in self.starts.values():
            names.extend(k for k in sorted(start.hparams) if k not in names)
        return names

    def table(self) -> pa.Table:
        sessions = sorted(self.starts)
        columns: dict[str, pa.Array] = {"run": arrow.from_python(sessions, pa.string())}
        for name in self._hparam_names():
            raw = [
                _hparam_value(self.starts[s].hparams[name])
                if name in self.starts[s].hparams
                else None
                for s in sessions
            ]
            columns[name] = _typed(raw)
        hparams = set(columns) - {"run"}
        for group, tag in self._metric_names():
            column = f"{group}/{tag}" if group else tag
            agg = self.aggregate_of(column, tag)
            columns[column] = arrow.from_python(
                [self._metric(s, group, tag, agg) for s in sessions], pa.float64()
            )
        status, start_time, end_time = [], [], []
        for s in sessions:
            end = self.ends.get(s)
            status.append(
                enum_name(hparams_pb2.Status, end.status) if end is not None else "STATUS_UNKNOWN"
            )
            start_time.append(self.starts[s].start_time_secs or None)
            end_time.append((end.end_time_secs or None) if end is not None else None)
        columns["status"] = arrow.from_python(status, pa.string())
        columns["start_time"] = arrow.from_python(start_time, pa.float64())
        columns["end_time"] = arrow.from_python(end_time, pa.float64())
        fields = [
            pa.field(name, array.type, metadata={ROLE: b"hparam"} if name in hparams else None)
            for name, array in columns.items()
        ]
        return pa.Table.from_arrays(list(columns.values()), schema=pa.schema(fields))


def hparam_columns(table: pa.Table) -> list[str]:
    """The hyperparameter columns of an hparams table (in order)."""
    return [f.name for f in table.schema if f.metadata and f.metadata.get(ROLE) == b"hparam"]


def _typed(raw: list[Any]) -> pa.Array:
    """float64, bool or string, whichever fits every non-null value (else strings)."""
    present = [v for v in raw if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return arrow.from_python(raw, pa.bool_())
    if all(isinstance(v, float) and not isinstance(v, bool) for v in present):
        return arrow.from_python(raw, pa.float64())
    return arrow.from_python(
        [None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in raw],
        pa.string(),
    )


def _codes(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """A name column as (int64 codes, the names they index)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    codes = arrow.to_numpy(column.indices).astype(np.int64)
    return codes, column.dictionary.to_pylist()
