"""What TensorBoard's *legacy* ``EventAccumulator`` keeps of one event file (format.md §5.2),
computed on the columnar index (:mod:`tbtool.columnar`) instead of event by event.

The accumulator's rules become array operations on the file's value rows: the
``file_version`` in effect at each record (forward-filled) says which restart rule applies;
under ``file_version >= 2`` each SessionLog START purges the earlier scalars, histograms,
images and audio with a step >= its step (never tensors); elsewhere the out-of-order rule
purges, per tag, the values (tensors too) of the tags of a summary event whose step goes
back. A value survives when no later purge reaches it, which is a search over the purges'
positions and the smallest step from each one on. Only the few events that steer these
rules (file versions, session logs, out-of-order summaries) are decoded, and of the values
only those the index did not decode (images, audio, text, non-scalar tensors) or whose
shape it does not say (a one-element tensor of shape ``[]`` is a scalar, of ``[1]`` an
array): so scalar-heavy files read at batch speed. :class:`~tbtool.compat.legacy_accumulator.
Accumulated` is the per-event original, the oracle of the tests.

One difference remains: a value with an empty ``tag`` and a ``node_name`` is filed under the
node name here for every kind, under ``""`` by the accumulator except for tensors; no current
writer produces one. Likewise an *empty* ``metadata`` message is not seen by the index, so a
later metadata of the same tag can count here where the accumulator had already taken the
empty one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from tbtool.columnar import native
from tbtool.columnar.index import (
    COL_HISTO,
    COL_SCALAR,
    COL_SCALAR64,
    ONEOF_AUDIO,
    ONEOF_HISTO,
    ONEOF_IMAGE,
    ONEOF_SIMPLE,
    ONEOF_TENSOR,
    WHAT_CODES,
    ChunkIndex,
)
from tbtool.columnar.scan import FileScan
from tbtool.compat.legacy_accumulator import file_version, ndarray
from tbtool.format.summary_metadata import parse_metadata
from tbtool.proto import event_pb2

KIND_ONEOF = {
    "scalars": ONEOF_SIMPLE,
    "histograms": ONEOF_HISTO,
    "images": ONEOF_IMAGE,
    "audio": ONEOF_AUDIO,
    "tensors": ONEOF_TENSOR,
}
_PURGEABLE = (ONEOF_SIMPLE, ONEOF_HISTO, ONEOF_IMAGE, ONEOF_AUDIO)
_FILE_VERSION, _SESSION_LOG = WHAT_CODES["file_version"], WHAT_CODES["session_log"]
_SUMMARY = WHAT_CODES["summary"]
_NEVER = np.iinfo(np.int64).max


@dataclass
class Series:
    """Kept values of one kind, grouped by tag (``tags`` in first-appearance order, also
    those whose values were all purged), in arrival order within a tag. ``ids`` are value
    numbers of the file (see :class:`KeptFile`)."""

    tags: list[str]
    tag: np.ndarray  # ids into tags
    step: np.ndarray
    wall_time: np.ndarray
    ids: np.ndarray
    value: np.ndarray | None = None  # scalars: float64; tensors: float64 or object
    stats: dict[str, np.ndarray] | None = None  # histograms: min, max, num, sum, sum_squares
    limits: list[np.ndarray] | None = None
    counts: list[np.ndarray] | None = None


class _Purges:
    """Purges at record positions with a step each: which values at earlier positions with
    a step >= that step does any of them reach?"""

    def __init__(self, positions: list[int], steps: list[int]) -> None:
        self.positions = np.asarray(positions, dtype=np.int64)
        suffix_min = np.minimum.accumulate(np.asarray(steps, dtype=np.int64)[::-1])[::-1]
        self.min_step_after = np.append(suffix_min, _NEVER)

    def reach(self, positions: np.ndarray, steps: np.ndarray) -> np.ndarray:
        after = np.searchsorted(self.positions, positions, side="right")
        return steps >= self.min_step_after[after]


class KeptFile:
    """The values the legacy accumulator keeps of the event file ``path`` (damage raises,
    as the event-by-event reader does). ``keep_one_tensor``: tbparse's tensor reservoir of
    size 1 when tensors are not asked for (the last tensor of each tag, if kept)."""

    def __init__(self, path: str, keep_one_tensor: bool) -> None:
        self.path = path
        self.chunks: list[ChunkIndex] = list(FileScan(path))
        self._flatten()
        self.plugin_content = self._plugin_content()
        kept = self._kept()
        self._order: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for oneof in KIND_ONEOF.values():
            mine = self.v_oneof == oneof
            if oneof == ONEOF_TENSOR and keep_one_tensor:
                kept = kept & (~mine | self._last_per_tag(mine))
            self._order[oneof] = self._grouped(mine, kept)

    # -- the file's values as flat arrays --------------------------------------------------------
    def _flatten(self) -> None:
        """Value rows of all chunks in file order: ``v_*`` with file-wide tag ids, the
        record position ``v_grec`` and the chunk and row each came from."""
        chunks = self.chunks
        tag_ids: dict[str, int] = {}
        meta_ids: dict[bytes, int] = {}
        tags, metas, grecs, numbers = [], [], [], []
        self.rec_start = np.cumsum([0, *(c.records for c in chunks)])
        for number, chunk in enumerate(chunks):
            tag_map = np.array([tag_ids.setdefault(t, len(tag_ids)) for t in chunk.tags] or [0])
            meta_map = np.array([meta_ids.setdefault(m, len(meta_ids)) for m in chunk.metas] + [-1])
            tags.append(tag_map[chunk.v_tag] if chunk.values else np.zeros(0, np.int64))
            metas.append(meta_map[chunk.v_meta])
            grecs.append(chunk.v_rec + self.rec_start[number])
            numbers.append(np.full(chunk.values, number, dtype=np.int64))

        def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
            return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

        self.tags = list(tag_ids)
        self.metas = list(meta_ids)
        self.v_tag, self.v_meta = cat(tags, np.int64), cat(metas, np.int64)
        self.v_grec, self.v_chunk = cat(grecs, np.int64), cat(numbers, np.int64)
        self.v_row = cat([np.arange(c.values) for c in chunks], np.int64)
        self.v_oneof = cat([c.v_oneof for c in chunks], np.uint8)
        self.v_col = cat([c.v_col for c in chunks], np.uint8)
        self.r_what = cat([c.r_what for c in chunks], np.uint8)
        self.r_step = cat([c.r_step for c in chunks], np.int64)
        self.r_wall_time = cat([c.r_wall_time for c in chunks], np.float64)

    def event(self, grec: int) -> Any:
        """The decoded ``Event`` at record position ``grec`` of the file."""
        number = int(np.searchsorted(self.rec_start, grec, side="right")) - 1
        return self.chunks[number].event(grec - int(self.rec_start[number]))

    def value(self, vid: int) -> Any:
        """The decoded ``Summary.Value`` of value ``vid``."""
        chunk = self.chunks[self.v_chunk[vid]]
        row = int(self.v_row[vid])
        return chunk.event(int(chunk.v_rec[row])).summary.value[int(chunk.v_widx[row])]

    # -- the accumulator's rules ------------------------------------------------------------------
    def _plugin_content(self) -> dict[str, dict[str, bytes]]:
        """Plugin name -> tag -> content of each tag's first value with metadata, in order
        of those first values."""
        content: dict[str, dict[str, bytes]] = defaultdict(dict)
        with_meta = np.flatnonzero(self.v_meta >= 0)
        _, first = np.unique(self.v_tag[with_meta], return_index=True)
        parsed: dict[int, Any] = {}
        for vid in with_meta[np.sort(first)].tolist():
            meta = int(self.v_meta[vid])
            if meta not in parsed:
                record = int(self.v_grec[vid])
                chunk = self.chunks[int(self.v_chunk[vid])]
                local = record - int(self.rec_start[int(self.v_chunk[vid])])
                parsed[meta] = parse_metadata(
                    self.metas[meta],
                    file=self.path,
                    offset=int(chunk.r_offset[local]),
                    index=int(chunk.r_index[local]),
                )
            plugin = parsed[meta].plugin_data
            if plugin.plugin_name:
                content[plugin.plugin_name][self.tags[self.v_tag[vid]]] = plugin.content
        return content

    def _kept(self) -> np.ndarray:
        """Which values no later purge reaches."""
        what, steps = self.r_what, self.r_step
        marks = np.flatnonzero(what == _FILE_VERSION)
        versions = np.array([file_version(self.event(g).file_version) for g in marks.tolist()])
        last = np.maximum.accumulate(np.where(what == _FILE_VERSION, np.arange(len(what)), -1))
        rank = np.searchsorted(marks, last)  # which file_version event is in effect
        in_effect = np.where(last >= 0, np.append(versions, np.nan)[rank], np.nan)
        v2 = in_effect >= 2
        starts: tuple[list[int], list[int]] = ([], [])
        for g in np.flatnonzero(v2 & (what == _SESSION_LOG)).tolist():
            event = self.event(g)
            if event.session_log.status == event_pb2.SessionLog.START:
                starts[0].append(g)
                starts[1].append(event.step)
        kept = np.ones(len(self.v_tag), dtype=bool)
        steps_v = steps[self.v_grec]
        if starts[0]:
            purgeable = np.isin(self.v_oneof, _PURGEABLE)
            kept &= ~(purgeable & _Purges(*starts).reach(self.v_grec, steps_v))
        for tag, (positions, tag_steps) in self._out_of_order(~v2).items():
            mine = np.flatnonzero(self.v_tag == tag)
            kept[mine] &= ~_Purges(positions, tag_steps).reach(self.v_grec[mine], steps_v[mine])
        return kept

    def _out_of_order(self, legacy: np.ndarray) -> dict[int, tuple[list[int], list[int]]]:
        """The out-of-order rule on the records without ``file_version >= 2``: tag id ->
        (positions, steps) of the purges of that tag."""
        recs = np.flatnonzero(legacy)
        steps = self.r_step[recs]
        if not len(recs) or (np.diff(steps, prepend=-1) >= 0).all():
            return {}  # no step goes back below the most recent one
        purges: dict[int, tuple[list[int], list[int]]] = {}
        tag_ids = {t: i for i, t in enumerate(self.tags)}
        summary = (self.r_what[recs] == _SUMMARY).tolist()
        most_recent = -1
        for g, step, is_summary in zip(recs.tolist(), steps.tolist(), summary, strict=True):
            if step < most_recent and is_summary:
                for value in self.event(g).summary.value:
                    tag = tag_ids.get(value.tag)
                    if tag is not None:
                        positions, tag_steps = purges.setdefault(tag, ([], []))
                        positions.append(g)
                        tag_steps.append(step)
            else:
                most_recent = step
        return purges

    def _last_per_tag(self, mine: np.ndarray) -> np.ndarray:
        rows = np.flatnonzero(mine)
        _, last = np.unique(self.v_tag[rows][::-1], return_index=True)
        out = np.zeros(len(mine), dtype=bool)
        out[rows[len(rows) - 1 - last]] = True
        return out

    def _grouped(self, mine: np.ndarray, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tag ids of one kind in first-appearance order, and its kept value ids by tag."""
        rows = np.flatnonzero(mine)
        codes, first = np.unique(self.v_tag[rows], return_index=True)
        tags = codes[np.argsort(first, kind="stable")]
        ids = rows[kept[rows]]
        return tags, ids[np.argsort(self._positions(tags)[self.v_tag[ids]], kind="stable")]

    def _positions(self, tags: np.ndarray) -> np.ndarray:
        """File tag id -> position in ``tags`` (-1: not there)."""
        position = np.full(len(self.tags), -1, dtype=np.int64)
        position[tags] = np.arange(len(tags))
        return position

    # -- what tbparse asks for ---------------------------------------------------------------------
    def series(self, kind: str) -> Series:
        """Kept values of ``kind`` with their rows; scalars, histogram statistics and tensor
        values filled in (images and audio are decoded by the caller, see :meth:`value`)."""
        oneof = KIND_ONEOF[kind]
        tags, ids = self._order[oneof]
        grec = self.v_grec[ids]
        series = Series(
            [self.tags[t] for t in tags.tolist()],
            self._positions(tags)[self.v_tag[ids]],
            self.r_step[grec],
            self.r_wall_time[grec],
            ids,
        )
        if oneof == ONEOF_SIMPLE:
            series.value = self._scalars(ids)
        elif oneof == ONEOF_HISTO:
            self._histograms(series)
        return series

    def _scalars(self, ids: np.ndarray) -> np.ndarray:
        out = np.empty(len(ids), dtype=np.float64)
        for number, rows, at in self._by_chunk(ids):
            out[at] = self.chunks[number].v_scalar[rows]
        return out

    def _by_chunk(self, ids: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(chunk number, rows in that chunk, positions in ``ids``) for each chunk."""
        order = np.argsort(self.v_chunk[ids], kind="stable")
        numbers, starts = np.unique(self.v_chunk[ids][order], return_index=True)
        ends = np.append(starts, len(ids))[1:]
        return [
            (number, self.v_row[ids[order[a:b]]], order[a:b])
            for number, a, b in zip(numbers.tolist(), starts.tolist(), ends.tolist(), strict=True)
        ]

    def _histograms(self, series: Series) -> None:
        ids = series.ids
        names = ("min", "max", "num", "sum", "sum_squares")
        stats = {name: np.empty(len(ids), dtype=np.float64) for name in names}
        limits: list[Any] = [None] * len(ids)
        counts: list[Any] = [None] * len(ids)
        for number, rows, at in self._by_chunk(ids):
            chunk = self.chunks[number]
            bulk = chunk.v_col[rows] == COL_HISTO
            entry = (np.cumsum(chunk.v_col == COL_HISTO) - 1)[rows[bulk]]
            for name in names:
                stats[name][at[bulk]] = getattr(chunk, f"h_{name}")[entry]
            bounds = np.concatenate([[0], np.cumsum(chunk.h_count)])
            for i, e in zip(at[bulk].tolist(), entry.tolist(), strict=True):
                limits[i] = chunk.h_limits[bounds[e] : bounds[e + 1]].copy()
                counts[i] = chunk.h_buckets[bounds[e] : bounds[e + 1]].copy()
            for i in at[~bulk].tolist():  # bucket_limit and bucket of different lengths
                h = self.value(int(ids[i])).histo
                for name in names:
                    stats[name][i] = getattr(h, name)
                limits[i] = np.array(h.bucket_limit, dtype=np.float64)
                counts[i] = np.array(h.bucket, dtype=np.float64)
        series.stats, series.limits, series.counts = stats, limits, counts

    def tensor_values(self, series: Series) -> np.ndarray:
        """tbparse's cell values of the tensors of ``series``: a float64 array if
        all are scalars of shape ``[]`` the index decoded, else an object array (Python
        floats and what :func:`~tbtool.compat.legacy_accumulator.ndarray` gives)."""
        ids = series.ids
        scalar = np.zeros(len(ids), dtype=bool)
        values = np.full(len(ids), np.nan)
        for number, chunk_rows, at in self._by_chunk(ids):
            chunk = self.chunks[number]
            col = chunk.v_col[chunk_rows]
            hot = (col == COL_SCALAR) | (col == COL_SCALAR64)
            hot[hot] = _ranks(chunk, chunk_rows[hot]) == 0
            scalar[at[hot]] = True
            values[at[hot]] = chunk.v_scalar[chunk_rows[hot]]
        if scalar.all():
            return values
        out = np.empty(len(ids), dtype=object)
        out[:] = values.tolist()  # Python floats, as .item() gives
        for i in np.flatnonzero(~scalar).tolist():
            out[i] = ndarray(self.value(int(ids[i])).tensor)
        return out


def _ranks(chunk: ChunkIndex, rows: np.ndarray) -> np.ndarray:
    """The rank of each value's tensor (-1: not known here, decode it)."""
    ext = native.module()
    if ext is None or chunk.buffer is None or not len(rows):
        return np.full(len(rows), -1, dtype=np.int8)
    recs = chunk.v_rec[rows]
    ranks = ext.tensor_ranks(
        chunk.buffer,
        chunk.base,
        np.ascontiguousarray(chunk.r_offset[recs], dtype=np.int64),
        np.ascontiguousarray(chunk.r_length[recs], dtype=np.int64),
        np.ascontiguousarray(chunk.v_widx[rows], dtype=np.int32),
    )
    return np.frombuffer(ranks, dtype=np.int8)
