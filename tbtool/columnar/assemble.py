"""From value indexes to typed columns: the per-run rules of normalization, in bulk.

The per-event path (``Reader.values``) feeds one :class:`~tbtool.values.normalize.Normalizer`
per run in read order. This module applies the same rules to whole chunks:

* a tag's metadata is the first non-empty ``SummaryMetadata`` of that tag in the run
  (format.md §3.1); values before it have none. Because that metadata is set once per tag,
  "which metadata applies to this value" is a comparison of positions, done on arrays;
* classification (format.md §3.7) by oneof case, then the metadata's plugin / data class;
* filters (tags, steps) and purge semantics on arrays;
* scalars and ``HistogramProto`` s come straight from the index columns, as do images and
  audio (their bytes sliced where they lie) and text: a string tensor the index decoded
  (``COL_STRINGS``) is text where the metadata that applies says so (the ``text`` plugin),
  which both decoders know alike. Every other value is decoded by the general normalizer,
  with the metadata that applies to it, so the result is the same typed value the per-event
  path gives.

One idea, kept whole: :class:`RunAssembler` is a run's state (its tag registry, where each
tag's metadata was first seen, the filters) and the steps that read it chunk by chunk:
classify, filter, purge, decode. What it hands out is in :mod:`tbtool.columnar.pieces`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from tbtool.columnar import native
from tbtool.columnar.index import (
    COL_AUDIO,
    COL_HISTO,
    COL_IMAGE,
    COL_SCALAR,
    COL_SCALAR64,
    COL_STRINGS,
    ONEOF_AUDIO,
    ONEOF_HISTO,
    ONEOF_IMAGE,
    ONEOF_NONE,
    ONEOF_OBSOLETE,
    ONEOF_SIMPLE,
    ONEOF_TENSOR,
    WHAT_CODES,
    ChunkIndex,
)
from tbtool.columnar.pieces import (
    K_SKIP,
    RECORD_KINDS,
    UNPURGED_CODES,
    K,
    Piece,
    ValueBlock,
    tensor_kind,
)
from tbtool.runs.purge import UNPURGED_KINDS, PurgeFilter
from tbtool.values.normalize import (
    Normalizer,
    decode_strings,
    event_values,
    histogram_from_proto,
)
from tbtool.values.typed import LoggedValue, Text


@dataclass
class _Classified:
    """What :meth:`RunAssembler._classify` finds out about each value of a chunk."""

    tag: np.ndarray  # run tag id
    has_meta: np.ndarray  # the tag's metadata applies
    kind: np.ndarray  # K code (K_SKIP: yields nothing)
    step: np.ndarray
    keep: np.ndarray  # passes the tag, step and kind filters (purge not applied)
    fast_scalar: np.ndarray  # a scalar the index decoded
    fast_histo: np.ndarray  # a HistogramProto the index decoded
    fast_image: np.ndarray  # a Summary.Image the index decoded (also in general)
    fast_audio: np.ndarray  # a Summary.Audio the index decoded (also in general)
    fast_text: np.ndarray  # a string tensor the index decoded, read as text (also in general)
    general: np.ndarray  # decoded one by one


class _GivenMetadata(Normalizer):
    """A normalizer told which metadata applies (the run's registry decided it)."""

    current: Any = None

    def metadata(self, tag: str, value: Any) -> Any | None:
        return self.current


_RECORD_WHATS = np.array(
    [code for what, code in WHAT_CODES.items() if what not in (None, "summary")], dtype=np.uint8
)
_HISTO_STATS = ("min", "max", "num", "sum", "sum_squares")
#: Kinds a value may be classified as but turn out a ``tensor`` when decoded, and that the
#: purge rules protect (so the difference matters to them).
_SETTLED_BY_DECODING = np.array(
    [K[k] for k in ("graph", "run_metadata", "hparams", "custom_scalars")], dtype=np.int16
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
        self._plugins: list[str] = []  # per tag: its plugin name ("" until registered)
        self._tensor_kind = np.zeros(0, dtype=np.int16)  # per tag, given its metadata
        self._none_kind = np.zeros(0, dtype=np.int16)
        self._normalizer = _GivenMetadata()
        #: Tags (ids) whose metadata was registered since the caller last cleared it, and
        #: the last chunk's classification: what a worker process reports of a chunk
        #: (:mod:`tbtool.columnar.rows`).
        self.new_registrations: list[int] = []
        self.last_classified: _Classified | None = None

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
                self._plugins.append("")
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

    def metadata_of(self, tag: int) -> Any | None:
        """The metadata registered for run tag id ``tag`` (``None``: none yet)."""
        return self._metadata[tag]

    def registrations(self) -> dict[str, Any]:
        """Every tag's registered metadata, by tag name."""
        known = zip(self.tags, self._metadata, self._registered.tolist(), strict=True)
        return {tag: metadata for tag, metadata, registered in known if registered}

    def _register(self, tag: int, metadata: Any) -> None:
        self.new_registrations.append(tag)
        self._registered[tag] = True
        self._metadata[tag] = metadata
        self._plugins[tag] = metadata.plugin_data.plugin_name
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
        # The index holds only non-empty metadata (tbtool.format.summary_metadata), so a tag's first
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
    def exact_kinds(self, chunk: ChunkIndex) -> tuple[np.ndarray, np.ndarray]:
        """``(run tag id, K code)`` of every value of a chunk, exactly the kind the per-event
        normalizer gives (``K_SKIP``: it gives nothing). Classification is exact except for
        kinds a failed decode turns into ``tensor``; of those only the kinds the purge rules
        protect (graphs, run metadata, hparams, custom scalars: a few values per run) are
        decoded here to settle it. For planners (merge, purge) that need no contents."""
        c = self._classify(chunk)
        kind = c.kind.copy()
        settle = np.flatnonzero(np.isin(kind, _SETTLED_BY_DECODING))
        normalizer = self._normalizer
        for row in settle.tolist():
            event = chunk.event(int(chunk.v_rec[row]))
            t = int(c.tag[row])
            normalizer.current = self._metadata[t] if c.has_meta[row] else None
            item = normalizer.summary_value(event.summary.value[int(chunk.v_widx[row])])
            kind[row] = K_SKIP if item is None else K[item[2].kind]
        return c.tag, kind

    def _classify(self, chunk: ChunkIndex) -> _Classified:
        """Per value of the chunk: run tag id, metadata, kind, step and the filters."""
        n = chunk.values
        tag = self._tag_lut(chunk.tags)[chunk.v_tag]
        reg_row = self._registration_rows(chunk, tag)
        # The common cases without a pass: every tag's metadata known from before the chunk,
        # or none known and none met in it.
        if (reg_row < 0).all():
            has_meta = np.ones(n, dtype=bool)
        elif (reg_row >= n).all():
            has_meta = np.zeros(n, dtype=bool)
        else:
            has_meta = np.arange(n) >= reg_row[tag]
        oneof = chunk.v_oneof
        kind = _FIXED_KIND[oneof]
        is_tensor = oneof == ONEOF_TENSOR
        if is_tensor.any():
            kind = np.where(is_tensor & has_meta, self._tensor_kind[tag], kind)
            kind = np.where(is_tensor & ~has_meta, K["tensor"], kind)
        none = oneof == ONEOF_NONE
        if none.any():
            kind = np.where(none & has_meta, self._none_kind[tag], kind)
        step = chunk.r_step[chunk.v_rec] if not _one_value_per_record(chunk) else chunk.r_step
        keep = kind != K_SKIP
        if not self._selected.all():
            keep &= self._selected[tag]
        if self.steps is not None:
            keep &= self._step_ok(step)
        col = chunk.v_col
        fast_scalar = ((col == COL_SCALAR) | (col == COL_SCALAR64)) & (kind == K["scalar"])
        fast_histo = (col == COL_HISTO) & (kind == K["histogram"])
        fast_image = col == COL_IMAGE  # a Summary.Image is always an image
        fast_audio = col == COL_AUDIO  # and a Summary.Audio audio
        # A string tensor of the plain layout always decodes as the text it is read as.
        fast_text = (col == COL_STRINGS) & (kind == K["text"])
        general = ~(fast_scalar | fast_histo)
        # A value decoded in general may end up a `tensor` (when it does not fit its kind).
        may_be_tensor = general & ~fast_image & ~fast_audio & ~fast_text
        keep &= self.wanted[kind] | (may_be_tensor & self.wanted[K["tensor"]])
        self.last_classified = _Classified(
            tag, has_meta, kind, step, keep, fast_scalar, fast_histo, fast_image, fast_audio,
            fast_text, general,
        )  # fmt: skip
        return self.last_classified

    def _step_ok(self, step: np.ndarray) -> np.ndarray:
        ok = np.ones(len(step), dtype=bool)
        if self.steps.start is not None:
            ok &= step >= self.steps.start
        if self.steps.stop is not None:
            ok &= step < self.steps.stop
        return ok

    def feed(self, file_number: int, chunk: ChunkIndex) -> Piece:
        """The wanted values of one chunk (of file ``file_number`` of the run)."""
        piece = Piece(self.run, self.tags)
        if not chunk.values:
            return piece
        c = self._classify(chunk)
        keep = c.keep
        if not keep.any():
            return piece
        rec = chunk.v_rec
        purge_ok = (
            self.purge.keeps_many(file_number, chunk.r_index[rec], c.step) if self.purge else None
        )
        if self.wanted[K["scalar"]]:
            rows = np.flatnonzero(
                keep & c.fast_scalar & (purge_ok if purge_ok is not None else True)
            )
            if len(rows) == chunk.values:  # every value: the columns as they are
                wall = chunk.r_wall_time
                if not _one_value_per_record(chunk):
                    wall = wall[rec]
                piece.scalars = {
                    "row": rows,
                    "tag": c.tag,
                    "step": c.step,
                    "wall_time": wall,
                    "value": chunk.v_scalar,
                }
            else:
                piece.scalars = {
                    "row": rows,
                    "tag": c.tag[rows],
                    "step": c.step[rows],
                    "wall_time": chunk.r_wall_time[rec[rows]],
                    "value": chunk.v_scalar[rows],
                }
        if self.wanted[K["histogram"]]:
            piece.histograms = self._histograms(chunk, keep & c.fast_histo, purge_ok, c.tag, c.step)
        general = c.general
        if self.wanted[K["image"]]:
            piece.images = self._images(chunk, keep & c.fast_image, purge_ok, c.tag, c.step)
            general = general & ~c.fast_image
        if self.wanted[K["audio"]]:
            piece.audio = self._audio(chunk, keep & c.fast_audio, purge_ok, c.tag, c.step)
            general = general & ~c.fast_audio
        if self.wanted[K["text"]]:
            piece.text = self._text(chunk, keep & c.fast_text, purge_ok, c.tag, c.step)
            general = general & ~c.fast_text
        rows = np.flatnonzero(keep & general)
        if len(rows):
            self._decode(piece, file_number, chunk, rows, c.tag, c.has_meta)
        return piece

    def block(
        self, file_number: int, chunk: ChunkIndex, *, decode_histograms: bool = False
    ) -> ValueBlock:
        """Every wanted value of one chunk, whole-event values included, as a
        :class:`ValueBlock` in read order. Scalars stay columns; histograms the index decoded
        stay columns without contents unless ``decode_histograms``."""
        parts: list[tuple[np.ndarray, ...]] = []  # (rec, widx, tag, kind, has_meta, scalar, f32)
        items: list[tuple[int, int, LoggedValue]] = []  # (rec, widx, value)
        if chunk.values:
            c = self._classify(chunk)
            rec = chunk.v_rec
            purge_ok = np.ones(chunk.values, dtype=bool)
            if self.purge:
                kept = self.purge.keeps_many(file_number, chunk.r_index[rec], c.step)
                purge_ok = UNPURGED_CODES[c.kind] | kept
            if decode_histograms:  # typed values from the index's columns
                rows = np.flatnonzero(c.keep & c.fast_histo & purge_ok)
                self._histogram_items(chunk, rows, c, items)
                bulk = c.fast_scalar
            else:  # rows without contents
                bulk = c.fast_scalar | c.fast_histo
            rows = np.flatnonzero(c.keep & bulk & purge_ok)
            if len(rows):
                col = chunk.v_col[rows]
                is_scalar = c.fast_scalar[rows]
                parts.append(
                    (
                        rec[rows],
                        chunk.v_widx[rows],
                        c.tag[rows],
                        c.kind[rows],
                        c.has_meta[rows],
                        np.where(is_scalar, chunk.v_scalar[rows], np.nan),
                        is_scalar & (col == COL_SCALAR),
                    )
                )
            rows = np.flatnonzero(c.keep & c.fast_text & purge_ok)  # typed text from the index
            for row, strings, shape in zip(
                rows.tolist(), chunk.strings(rows), chunk.string_shapes(rows), strict=True
            ):
                items.append(self._indexed_item(chunk, row, c, _text(strings, shape)))
            rows = np.flatnonzero(c.keep & c.general & ~c.fast_text)
            if len(rows):
                piece = Piece(self.run, self.tags)
                self._decode(piece, file_number, chunk, rows, c.tag, c.has_meta)
                for row, item in zip(piece.value_rows, piece.values, strict=True):
                    items.append((int(rec[row]), int(chunk.v_widx[row]), item))
        self._record_values(chunk, items)
        return self._assemble_block(chunk, parts, items)

    def _histogram_items(
        self,
        chunk: ChunkIndex,
        rows: np.ndarray,
        c: _Classified,
        items: list[tuple[int, int, LoggedValue]],
    ) -> None:
        """Typed histograms of the ``HistogramProto`` s the index decoded, from its columns
        (the same rule as from the message; no payload needed, so detached indexes do)."""
        if not len(rows):
            return
        entry = (np.cumsum(chunk.v_col == COL_HISTO) - 1)[rows]
        ends = np.cumsum(chunk.h_count)
        starts = ends - chunk.h_count
        stats = [chunk.h_min, chunk.h_max, chunk.h_num, chunk.h_sum, chunk.h_sum_squares]
        for row, e in zip(rows.tolist(), entry.tolist(), strict=True):
            start, end = int(starts[e]), int(ends[e])
            proto = SimpleNamespace(
                bucket_limit=chunk.h_limits[start:end],
                bucket=chunk.h_buckets[start:end],
                **dict(zip(_HISTO_STATS, (float(x[e]) for x in stats), strict=True)),
            )
            items.append(self._indexed_item(chunk, row, c, histogram_from_proto(proto)))

    def _indexed_item(
        self, chunk: ChunkIndex, row: int, c: _Classified, value: Any
    ) -> tuple[int, int, LoggedValue]:
        """``(record, position in the event, typed value)`` of value ``row``, decoded from
        the index as ``value``."""
        rec = int(chunk.v_rec[row])
        t = int(c.tag[row])
        item = LoggedValue(
            self.run,
            chunk.file,
            int(chunk.r_offset[rec]),
            int(chunk.r_index[rec]),
            float(chunk.r_wall_time[rec]),
            int(chunk.r_step[rec]),
            self.tags[t],
            value,
            self._plugins[t] if c.has_meta[row] else "",
        )
        return rec, int(chunk.v_widx[row]), item

    def _record_values(self, chunk: ChunkIndex, items: list[tuple[int, int, LoggedValue]]) -> None:
        """Values of whole non-summary events (file_version, session_log, graphs, ...): few,
        decoded one by one; the purge never drops them."""
        if not any(self.wanted[K[k]] for k in RECORD_KINDS):
            return
        recs = np.flatnonzero(np.isin(chunk.r_what, _RECORD_WHATS))
        if self.steps is not None and len(recs):
            recs = recs[self._step_ok(chunk.r_step[recs])]
        for rec in recs.tolist():
            event = chunk.event(rec)
            for tag, plugin, value in event_values(event, self._normalizer):
                if value.kind in self.kinds and self.tag_ok(tag):
                    item = LoggedValue(
                        self.run,
                        chunk.file,
                        int(chunk.r_offset[rec]),
                        int(chunk.r_index[rec]),
                        event.wall_time,
                        event.step,
                        tag,
                        value,
                        plugin,
                    )
                    items.append((rec, 0, item))

    def _assemble_block(
        self,
        chunk: ChunkIndex,
        parts: list[tuple[np.ndarray, ...]],
        items: list[tuple[int, int, LoggedValue]],
    ) -> ValueBlock:
        if items:
            tag_ids = self._tag_lut([item.tag for _, _, item in items])
            scalars = [item.value.value if item.kind == "scalar" else np.nan for *_, item in items]
            f32 = [item.kind == "scalar" and item.value.dtype == "float32" for *_, item in items]
            parts.append(
                (
                    np.array([r for r, _, _ in items], dtype=np.int64),
                    np.array([w for _, w, _ in items], dtype=np.int32),
                    tag_ids,
                    np.array([K[item.kind] for *_, item in items], dtype=np.int16),
                    np.array([item.plugin_name != "" for *_, item in items], dtype=bool),
                    np.array(scalars, dtype=np.float64),
                    np.array(f32, dtype=bool),
                )
            )
        if parts:
            rec, widx, tag, kind, has_meta, scalar, f32 = (
                np.concatenate(column) for column in zip(*parts, strict=True)
            )
        else:
            rec = np.zeros(0, dtype=np.int64)
            widx = tag = np.zeros(0, dtype=np.int32)
            kind = np.zeros(0, dtype=np.int16)
            has_meta = f32 = np.zeros(0, dtype=bool)
            scalar = np.zeros(0, dtype=np.float64)
        order = np.lexsort((widx, rec))
        new_row = np.empty_like(order)
        new_row[order] = np.arange(len(order))
        n_bulk = len(rec) - len(items)
        by_row = dict(zip(new_row[n_bulk:].tolist(), (item for *_, item in items), strict=True))
        rec = rec[order]
        return ValueBlock(
            run=self.run,
            file=chunk.file,
            tags=self.tags,
            plugins=self._plugins,
            offset=chunk.r_offset[rec],
            index=chunk.r_index[rec],
            wall_time=chunk.r_wall_time[rec],
            step=chunk.r_step[rec],
            tag=tag[order].astype(np.int32),
            kind=kind[order],
            has_meta=has_meta[order],
            scalar=scalar[order],
            float32=f32[order],
            items=by_row,
        )

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

    def _entry_rows(
        self,
        chunk: ChunkIndex,
        select: np.ndarray,
        purge_ok: np.ndarray | None,
        tag: np.ndarray,
        step: np.ndarray,
        col: int,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """``(rows, entries, columns)``: the value rows ``select`` keeps (and the purge),
        their entries in the index's ``col`` columns (``h_*``, ``i_*``, ``a_*``), and the
        columns every table has."""
        if purge_ok is not None:
            select = select & purge_ok
        rows = np.flatnonzero(select)
        entry = (np.cumsum(chunk.v_col == col) - 1)[rows]
        common = {
            "row": rows,
            "tag": tag[rows],
            "step": step[rows],
            "wall_time": chunk.r_wall_time[chunk.v_rec[rows]],
        }
        return rows, entry, common

    def _images(self, chunk: ChunkIndex, *where: Any) -> dict[str, Any]:
        """Image rows of the ``Summary.Image`` s the index decoded: one sample each, its
        encoded bytes sliced once from the chunk (the rule of ``Normalizer.summary_value``)."""
        rows, entry, out = self._entry_rows(chunk, *where, COL_IMAGE)
        out["width"] = chunk.i_width[entry]
        out["height"] = chunk.i_height[entry]
        out["data"] = chunk.image_blobs(rows)
        return out

    def _audio(self, chunk: ChunkIndex, *where: Any) -> dict[str, Any]:
        """Audio rows of the ``Summary.Audio`` s the index decoded: one clip each, its
        encoded bytes and content type sliced once from the chunk."""
        rows, entry, out = self._entry_rows(chunk, *where, COL_AUDIO)
        out["sample_rate"] = chunk.a_sample_rate[entry]
        out["channels"] = chunk.a_channels[entry]
        out["frames"] = chunk.a_frames[entry]
        out["data"], out["content_type"] = chunk.audio_parts(rows)
        return out

    def _text(self, chunk: ChunkIndex, *where: Any) -> dict[str, Any]:
        """Text rows of the string tensors the index decoded: each value's table cell (the
        rule of ``Normalizer`` and :meth:`~tbtool.values.typed.Text.cell`), its strings sliced
        once from the chunk."""
        rows, entry, out = self._entry_rows(chunk, *where, COL_STRINGS)
        cells = np.empty(len(rows), dtype=object)
        rest = np.arange(len(rows))
        ext = native.module()
        single = chunk.t_count[entry] == 1  # most text: one string, shown as it is
        if ext is not None and single.any():  # decoded in C, straight from the read buffer
            places = chunk.first_string_places(rows[single], entry[single])
            if places is not None:
                cells[single] = ext.decode_strings(chunk.buffer, *places)
                rest = np.flatnonzero(~single)
        if len(rest):
            strings = chunk.strings(rows[rest])
            shapes = chunk.string_shapes(rows[rest])
            for i, value, shape in zip(rest.tolist(), strings, shapes, strict=True):
                if len(value) == 1:
                    cells[i] = value[0].decode("utf-8", "replace")
                else:
                    cells[i] = _text(value, shape).cell()
        out["text"] = cells.tolist()
        return out

    def _histograms(self, chunk: ChunkIndex, *where: Any) -> dict[str, np.ndarray]:
        """Histogram rows as TensorBoard's Python loader shows a HistogramProto (the rule of
        ``normalize.histogram_from_proto``, on flat arrays): empty buckets at both ends
        dropped, outer edges ``min`` and ``max``."""
        _, entries, out = self._entry_rows(chunk, *where, COL_HISTO)
        ext = native.module()
        if ext is not None:  # the same rule in one pass in C
            parts = ext.histogram_rows(
                chunk.h_limits, chunk.h_buckets, chunk.h_count, chunk.h_min, chunk.h_max,
                np.ascontiguousarray(entries, dtype=np.int64),
            )  # fmt: skip
            offsets, left, right, count = (
                np.frombuffer(part, dtype=np.int64 if i == 0 else np.float64)
                for i, part in enumerate(parts)
            )
        else:
            offsets, left, right, count = _histogram_rows(chunk, entries)
        return {
            **out,
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


def _text(strings: list[bytes], shape: tuple[int, ...]) -> Text:
    """The text of a string tensor's strings in its shape (the rule of ``Normalizer``: each
    string UTF-8 with invalid bytes replaced)."""
    array = np.empty(len(strings), dtype=object)
    array[:] = strings
    return Text(decode_strings(array.reshape(shape)))


def _one_value_per_record(chunk: ChunkIndex) -> bool:
    """Does value i belong to record i (so record columns serve as value columns)? Equal
    counts are not enough, nor equal ends: records without values and records with several
    can balance out (found by the engine-comparison property test)."""
    n = chunk.values
    return n == chunk.records and bool(np.array_equal(chunk.v_rec, np.arange(n)))


def _histogram_rows(
    chunk: ChunkIndex, entries: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(offsets, left, right, count)`` of histogram ``entries`` with numpy (the C
    extension's ``histogram_rows``)."""
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
    return offsets, left, right, count
