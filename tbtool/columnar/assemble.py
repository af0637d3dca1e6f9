"""From value indexes to typed columns: the per-run rules of normalization, in bulk.

The per-event path (``LogReader.values``) feeds one :class:`~tbtool.normalize.Normalizer`
per run in read order. This module applies the same rules to whole chunks:

* a tag's metadata is the first non-empty ``SummaryMetadata`` of that tag in the run
  (format.md §3.1); values before it have none. Because that metadata is set once per tag,
  "which metadata applies to this value" is a comparison of positions, done on arrays;
* classification (format.md §3.7) by oneof case, then the metadata's plugin / data class;
* filters (tags, steps) and purge semantics on arrays;
* scalars and ``HistogramProto`` s come straight from the index columns; every other value is
  decoded by the general normalizer, with the metadata that applies to it, so the result is
  the same typed value the per-event path gives.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tbtool.columnar.index import (
    COL_HISTO,
    COL_SCALAR,
    ONEOF_AUDIO,
    ONEOF_HISTO,
    ONEOF_IMAGE,
    ONEOF_NONE,
    ONEOF_OBSOLETE,
    ONEOF_SIMPLE,
    ONEOF_TENSOR,
    ChunkIndex,
)
from tbtool.normalize import DATA_CLASS_SCALAR, Normalizer
from tbtool.purge import UNPURGED_KINDS, PurgeFilter
from tbtool.values import KINDS, LoggedValue

# Kinds as small integers (index into KINDS); SKIP: a value that yields nothing.
K = {kind: i for i, kind in enumerate(KINDS)}
K_SKIP = len(KINDS)

#: plugin name -> kind of a tensor value (format.md §3.1, §3.7; Normalizer._tensor).
TENSOR_PLUGINS = {
    "scalars": "scalar",
    "histograms": "histogram",
    "images": "image",
    "audio": "audio",
    "text": "text",
    "pr_curves": "pr_curve",
    "hparams": "hparams",
    "custom_scalars": "custom_scalars",
    "mesh": "mesh",
    "graphs": "graph",
    "graph_keras_model": "graph",
    "graph_run_metadata": "run_metadata",
    "graph_run_metadata_graph": "run_metadata",
}


def tensor_kind(metadata: Any | None) -> str:
    """The kind a tensor value is read as under ``metadata`` (before decoding; a value that
    does not fit becomes a ``tensor``)."""
    if metadata is None:
        return "tensor"
    plugin = metadata.plugin_data.plugin_name
    if plugin == "scalars" or metadata.data_class == DATA_CLASS_SCALAR:
        return "scalar"
    return TENSOR_PLUGINS.get(plugin, "tensor")


class _GivenMetadata(Normalizer):
    """A normalizer told which metadata applies (the run's registry decided it)."""

    current: Any = None

    def metadata(self, tag: str, value: Any) -> Any | None:
        return self.current


@dataclass
class Piece:
    """What one chunk yields for a request.

    ``scalars`` and ``histograms``: numpy columns in read order (tags as ids into
    ``tags``, the run's tag list); ``values``: the values decoded one by one, in read order,
    with their tag ids. ``row`` columns order all of them (the value's place in the chunk).
    """

    run: str
    tags: list[str]
    scalars: dict[str, np.ndarray] | None = None
    histograms: dict[str, np.ndarray] | None = None
    values: list[LoggedValue] = field(default_factory=list)
    value_rows: list[int] = field(default_factory=list)
    value_tags: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Values handed out."""
        return (
            (len(self.scalars["value"]) if self.scalars else 0)
            + (len(self.histograms["min"]) if self.histograms else 0)
            + len(self.values)
        )


_FIXED_KIND = np.full(7, K_SKIP, dtype=np.int16)
_FIXED_KIND[ONEOF_SIMPLE] = K["scalar"]
_FIXED_KIND[ONEOF_HISTO] = K["histogram"]
_FIXED_KIND[ONEOF_IMAGE] = K["image"]
_FIXED_KIND[ONEOF_AUDIO] = K["audio"]
_FIXED_KIND[ONEOF_OBSOLETE] = K["tensor"]


class RunAssembler:
    """Turns the chunks of one run, fed in read order, into :class:`Piece` s.

    ``kinds``: the value kinds wanted; ``tag_ok``/``steps``: filters; ``purge``: the run's
    restarts (an empty filter for the raw stream).
    """

    def __init__(
        self,
        run: str,
        kinds: Collection[str],
        *,
        tag_ok: Callable[[str], bool] = lambda tag: True,
        steps: Any = None,
        purge: PurgeFilter | None = None,
    ) -> None:
        self.run = run
        self.kinds = frozenset(kinds)
        self.wanted = np.zeros(K_SKIP + 1, dtype=bool)
        for kind in self.kinds:
            self.wanted[K[kind]] = True
        self.tag_ok = tag_ok
        self.steps = steps
        self.purge = purge if purge is not None else PurgeFilter(())
        self.tags: list[str] = []
        self._tag_ids: dict[str, int] = {}
        self._selected = np.zeros(0, dtype=bool)  # per tag: passes the tag filter
        self._registered = np.zeros(0, dtype=bool)  # per tag: metadata seen
        self._metadata: list[Any] = []  # per tag: the registered SummaryMetadata or None
        self._tensor_kind = np.zeros(0, dtype=np.int16)  # per tag, given its metadata
        self._none_kind = np.zeros(0, dtype=np.int16)
        self._normalizer = _GivenMetadata()

    # -- tags and metadata ---------------------------------------------------------------------
    def _tag_lut(self, tags: list[str]) -> np.ndarray:
        ids = []
        new = []
        for tag in tags:
            i = self._tag_ids.get(tag)
            if i is None:
                i = self._tag_ids[tag] = len(self.tags)
                self.tags.append(tag)
                self._metadata.append(None)
                new.append(tag)
            ids.append(i)
        if new:
            grow = len(new)
            self._selected = np.concatenate(
                [self._selected, np.array([bool(self.tag_ok(t)) for t in new])]
            )
            self._registered = np.concatenate([self._registered, np.zeros(grow, dtype=bool)])
            self._tensor_kind = np.concatenate(
                [self._tensor_kind, np.full(grow, K["tensor"], dtype=np.int16)]
            )
            self._none_kind = np.concatenate(
                [self._none_kind, np.full(grow, K_SKIP, dtype=np.int16)]
            )
        return np.array(ids, dtype=np.int32)

    def seed_metadata(self, tag: str, metadata: Any) -> None:
        """Register a tag's metadata from earlier files of the run, for an assembler that
        starts at a later file (the first registration of a tag wins, as in read order)."""
        (i,) = self._tag_lut([tag]).tolist()
        if not self._registered[i]:
            self._register(i, metadata)

    def _register(self, tag: int, metadata: Any) -> None:
        self._registered[tag] = True
        self._metadata[tag] = metadata
        self._tensor_kind[tag] = K[tensor_kind(metadata)]
        if metadata.plugin_data.plugin_name == "hparams":
            self._none_kind[tag] = K["hparams"]

    def _registration_rows(self, chunk: ChunkIndex, tag: np.ndarray) -> np.ndarray:
        """Per run tag: the first row of this chunk from which its metadata applies
        (-1: from before the chunk; len: not within it). Registers new metadata."""
        n = len(tag)
        reg_row = np.where(self._registered, -1, n).astype(np.int64)
        candidates = np.flatnonzero((chunk.v_meta >= 0) & ~self._registered[tag])
        if not len(candidates):
            return reg_row
        # The index holds only non-empty metadata (tbtool.summary_metadata), so a tag's first
        # candidate row is the one that registers.
        tags, first = np.unique(tag[candidates], return_index=True)
        parsed: dict[int, Any] = {}
        for t, row in zip(tags.tolist(), candidates[first].tolist(), strict=True):
            meta_id = int(chunk.v_meta[row])
            metadata = parsed.get(meta_id)
            if metadata is None:
                metadata = parsed[meta_id] = chunk.metadata(meta_id)
            self._register(t, metadata)
            reg_row[t] = row
        return reg_row

    # -- a chunk ------------------------------------------------------------------------------
    def feed(self, file_number: int, chunk: ChunkIndex) -> Piece:
        """The wanted values of one chunk (of file ``file_number`` of the run)."""
        piece = Piece(self.run, self.tags)
        n = chunk.values
        if not n:
            return piece
        tag = self._tag_lut(chunk.tags)[chunk.v_tag]
        reg_row = self._registration_rows(chunk, tag)
        has_meta = np.arange(n) >= reg_row[tag]
        oneof = chunk.v_oneof
        kind = _FIXED_KIND[oneof]
        is_tensor = oneof == ONEOF_TENSOR
        kind = np.where(is_tensor & has_meta, self._tensor_kind[tag], kind)
        kind = np.where(is_tensor & ~has_meta, K["tensor"], kind)
        kind = np.where((oneof == ONEOF_NONE) & has_meta, self._none_kind[tag], kind)
        rec = chunk.v_rec
        step = chunk.r_step[rec]
        keep = self._selected[tag] & (kind != K_SKIP)
        if self.steps is not None:
            if self.steps.start is not None:
                keep &= step >= self.steps.start
            if self.steps.stop is not None:
                keep &= step < self.steps.stop
        col = chunk.v_col
        fast_scalar = (col == COL_SCALAR) & (kind == K["scalar"])
        fast_histo = (col == COL_HISTO) & (kind == K["histogram"])
        general = ~(fast_scalar | fast_histo)
        # A value decoded in general may end up a `tensor` (when it does not fit its kind).
        wanted = self.wanted[kind] | (general & self.wanted[K["tensor"]])
        keep &= wanted
        if not keep.any():
            return piece
        index = chunk.r_index[rec]
        purge_ok = self.purge.keeps_many(file_number, index, step) if self.purge else None
        if self.wanted[K["scalar"]]:
            rows = np.flatnonzero(keep & fast_scalar & (purge_ok if purge_ok is not None else True))
            piece.scalars = {
                "row": rows,
                "tag": tag[rows],
                "step": step[rows],
                "wall_time": chunk.r_wall_time[rec[rows]],
                "value": chunk.v_scalar[rows],
            }
        if self.wanted[K["histogram"]]:
            piece.histograms = self._histograms(chunk, keep & fast_histo, purge_ok, tag, step)
        rows = np.flatnonzero(keep & general)
        if len(rows):
            self._decode(piece, file_number, chunk, rows, tag, has_meta)
        return piece

    def _decode(
        self,
        piece: Piece,
        file_number: int,
        chunk: ChunkIndex,
        rows: np.ndarray,
        tag: np.ndarray,
        has_meta: np.ndarray,
    ) -> None:
        normalizer = self._normalizer
        for row in rows.tolist():
            rec = int(chunk.v_rec[row])
            event = chunk.event(rec)
            t = int(tag[row])
            normalizer.current = self._metadata[t] if has_meta[row] else None
            item = normalizer.summary_value(event.summary.value[int(chunk.v_widx[row])])
            if item is None:
                continue
            tag_name, plugin, value = item
            if value.kind not in self.kinds:
                continue
            index = int(chunk.r_index[rec])
            step = event.step
            if value.kind not in UNPURGED_KINDS and not self.purge.keeps(
                (file_number, index), step, value.kind
            ):
                continue
            piece.value_rows.append(row)
            piece.value_tags.append(t)
            piece.values.append(
                LoggedValue(
                    self.run,
                    chunk.file,
                    int(chunk.r_offset[rec]),
                    index,
                    event.wall_time,
                    step,
                    tag_name,
                    value,
                    plugin,
                )
            )

    def _histograms(
        self,
        chunk: ChunkIndex,
        select: np.ndarray,
        purge_ok: np.ndarray | None,
        tag: np.ndarray,
        step: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Histogram rows as TensorBoard's Python loader shows a HistogramProto (the rule of
        ``normalize.histogram_from_proto``, on flat arrays): empty buckets at both ends
        dropped, outer edges ``min`` and ``max``."""
        if purge_ok is not None:
            select = select & purge_ok
        is_histo = chunk.v_col == COL_HISTO
        entry = np.cumsum(is_histo) - 1  # histogram entry of each histo value row
        rows = np.flatnonzero(select)
        entries = entry[rows]
        counts = chunk.h_count
        starts = (np.cumsum(counts) - counts).astype(np.int64)
        flat = chunk.h_buckets
        total = int(counts.sum())
        seg = np.repeat(np.arange(len(counts)), counts)
        local = np.arange(total) - np.repeat(starts, counts)
        nz = np.flatnonzero(flat != 0)
        nz_seg = seg[nz]
        first = np.full(len(counts), -1, dtype=np.int64)
        last = np.full(len(counts), -1, dtype=np.int64)
        if len(nz):
            head = np.r_[True, nz_seg[1:] != nz_seg[:-1]]
            tail = np.r_[nz_seg[1:] != nz_seg[:-1], True]
            first[nz_seg[head]] = local[nz[head]]
            last[nz_seg[tail]] = local[nz[tail]]
        first, last = first[entries], last[entries]
        lengths = np.where(first >= 0, last - first + 1, 0)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        out_total = int(offsets[-1])
        pos_in = np.arange(out_total) - np.repeat(offsets[:-1], lengths)
        gather = np.repeat(starts[entries] + np.maximum(first, 0), lengths) + pos_in
        count = flat[gather]
        right = chunk.h_limits[gather]
        left = chunk.h_limits[np.maximum(gather - 1, 0)] if out_total else right.copy()
        nonempty = lengths > 0
        left[offsets[:-1][nonempty]] = chunk.h_min[entries][nonempty]
        right[offsets[1:][nonempty] - 1] = chunk.h_max[entries][nonempty]
        rec = chunk.v_rec[rows]
        return {
            "row": rows,
            "tag": tag[rows],
            "step": step[rows],
            "wall_time": chunk.r_wall_time[rec],
            "min": chunk.h_min[entries],
            "max": chunk.h_max[entries],
            "num": chunk.h_num[entries],
            "sum": chunk.h_sum[entries],
            "sum_squares": chunk.h_sum_squares[entries],
            "offsets": offsets,
            "left": left,
            "right": right,
            "count": count,
        }
