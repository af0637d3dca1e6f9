"""The fast path of the tbparse drop-in: a *plain* event file read in bulk.

What TensorBoard's legacy ``EventAccumulator`` keeps of a file is simple to compute from the
bulk index (:mod:`tbtool.columnar`) when the file is plain: it opens with a ``file_version``
of 2 or more (so restarts are SessionLog STARTs, format.md §5.2), no value carries metadata,
and every value is a ``simple_value`` or a ``HistogramProto``: what torch's and
tensorboardX's ``add_scalar`` / ``add_histogram`` write. Then the scalars and histograms it
keeps are those rows minus the ones a later START of the same file purges, grouped by tag in
order of first appearance. Any other file returns ``None`` and is read event by event.
(One difference remains: a value with an empty ``tag`` and a ``node_name`` is filed under
the node name here, under ``""`` by the accumulator; no current writer produces one.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tbtool.columnar.index import COL_HISTO, ONEOF_HISTO, ONEOF_SIMPLE, WHAT_CODES
from tbtool.columnar.scan import FileScan
from tbtool.proto import event_pb2
from tbtool.purge import PurgeFilter, Restart

_FILE_VERSION, _SESSION_LOG = WHAT_CODES["file_version"], WHAT_CODES["session_log"]


@dataclass
class Series:
    """Rows of one kind, grouped by tag (``tags`` in first-appearance order, also those
    whose rows were all purged), in arrival order within a tag."""

    tags: list[str]
    tag: np.ndarray  # ids into tags
    step: np.ndarray
    wall_time: np.ndarray
    value: np.ndarray | None = None  # scalars
    stats: dict[str, np.ndarray] | None = None  # histograms: min, max, num, sum, sum_squares
    limits: list[np.ndarray] | None = None
    counts: list[np.ndarray] | None = None


@dataclass
class PlainFile:
    scalars: Series
    histograms: Series


def _file_version(event: Any) -> float:
    text = event.file_version
    try:
        return float(text.split("brain.Event:", 1)[1])
    except (IndexError, ValueError):
        return -1.0


def read_plain(path: str) -> PlainFile | None:
    """The scalars and histograms the legacy accumulator keeps of ``path``, or ``None`` if
    the file is not plain (damage raises, as the event-by-event reader does)."""
    chunks = list(FileScan(path))
    if not chunks or not chunks[0].records or chunks[0].r_what[0] != _FILE_VERSION:
        return None
    restarts: list[Restart] = []
    for chunk in chunks:
        if (chunk.v_meta >= 0).any():
            return None
        oneof = chunk.v_oneof
        if not np.isin(oneof, (ONEOF_SIMPLE, ONEOF_HISTO)).all():
            return None
        if ((oneof == ONEOF_HISTO) & (chunk.v_col != COL_HISTO)).any():
            return None
        for rec in np.flatnonzero(chunk.r_what == _FILE_VERSION).tolist():
            if _file_version(chunk.event(rec)) < 2:
                return None
        for rec in np.flatnonzero(chunk.r_what == _SESSION_LOG).tolist():
            event = chunk.event(rec)
            if event.session_log.status == event_pb2.SessionLog.START:
                restarts.append(Restart((0, int(chunk.r_index[rec])), event.step))
    purge = PurgeFilter(restarts)
    return PlainFile(_series(chunks, ONEOF_SIMPLE, purge), _series(chunks, ONEOF_HISTO, purge))


def _series(chunks: list, oneof: int, purge: PurgeFilter) -> Series:
    names, steps, walls, values, keeps, entries = [], [], [], [], [], []
    for number, chunk in enumerate(chunks):
        rows = np.flatnonzero(chunk.v_oneof == oneof)
        rec = chunk.v_rec[rows]
        step = chunk.r_step[rec]
        names.append(np.array(chunk.tags, dtype=object)[chunk.v_tag[rows]] if len(rows) else [])
        steps.append(step)
        walls.append(chunk.r_wall_time[rec])
        values.append(chunk.v_scalar[rows])
        keeps.append(purge.keeps_many(0, chunk.r_index[rec], step))
        if oneof == ONEOF_HISTO:
            entry = (np.cumsum(chunk.v_col == COL_HISTO) - 1)[rows]
            entries.extend((number, e) for e in entry.tolist())
    name = np.concatenate([np.asarray(n, dtype=object) for n in names])
    keep = np.concatenate(keeps)
    tags = list(pd.unique(name)) if len(name) else []  # reservoir keys: purged tags too
    codes = pd.Index(tags).get_indexer(name) if len(name) else np.zeros(0, np.int64)
    kept = np.flatnonzero(keep)
    order = kept[np.argsort(codes[kept], kind="stable")]
    series = Series(
        tags,
        codes[order],
        np.concatenate(steps)[order],
        np.concatenate(walls)[order],
    )
    if oneof == ONEOF_SIMPLE:
        series.value = np.concatenate(values)[order]
        return series
    bounds = [np.concatenate([[0], np.cumsum(c.h_count)]) for c in chunks]
    stats = {k: [] for k in ("min", "max", "num", "sum", "sum_squares")}
    series.limits, series.counts = [], []
    for i in order.tolist():
        number, e = entries[i]
        chunk, b = chunks[number], bounds[number]
        stats["min"].append(chunk.h_min[e])
        stats["max"].append(chunk.h_max[e])
        stats["num"].append(chunk.h_num[e])
        stats["sum"].append(chunk.h_sum[e])
        stats["sum_squares"].append(chunk.h_sum_squares[e])
        series.limits.append(chunk.h_limits[b[e] : b[e + 1]].copy())
        series.counts.append(chunk.h_buckets[b[e] : b[e + 1]].copy())
    series.stats = {k: np.asarray(v, dtype=np.float64) for k, v in stats.items()}
    return series
