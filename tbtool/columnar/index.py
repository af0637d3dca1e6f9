"""The value index of a chunk of records: one row per summary value, as numpy columns.

This is the hand-over point between the decoders (the C extension
``tbtool.columnar._columnar`` and the pure-Python builder,
:mod:`tbtool.columnar.index_builder`, which must produce the same index) and everything
downstream (classification, purge, tables). A row says where a value is (record, position in the
event), its tag and first-sight metadata, which oneof case it holds, and, for the two cases
worth decoding in bulk, its contents: a scalar (``simple_value`` or a one-element float/double
tensor) or a ``HistogramProto``'s statistics and buckets. Everything else (most tensors) is
decoded later, one value at a time, by the general normalizer, from the record's payload.
Images (``Summary.Image``) and audio are decoded as far as their fields, and where their
encoded bytes lie in the record, which is then all a table needs of them; string tensors of
a plain layout (:func:`text_shape`) as far as their shape and where each string lies. Which
of those are text (the ``text`` plugin) is for classification to say: the index only holds
what both decoders see in the value itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from tbtool.columnar.blobs import Blobs
from tbtool.format.summary_metadata import SummaryMetadata, parse_metadata
from tbtool.runs.events import decode_event

# Event.what oneof, as codes (0 = not set).
WHAT_CODES = {
    None: 0,
    "file_version": 1,
    "graph_def": 2,
    "summary": 3,
    "log_message": 4,
    "session_log": 5,
    "tagged_run_metadata": 6,
    "meta_graph_def": 7,
}
# Summary.Value.value oneof, as codes.
ONEOF_NONE, ONEOF_SIMPLE, ONEOF_HISTO, ONEOF_IMAGE, ONEOF_AUDIO, ONEOF_TENSOR = 0, 1, 2, 3, 4, 5
ONEOF_OBSOLETE = 6
ONEOF_CODES = {
    None: ONEOF_NONE,
    "simple_value": ONEOF_SIMPLE,
    "histo": ONEOF_HISTO,
    "image": ONEOF_IMAGE,
    "audio": ONEOF_AUDIO,
    "tensor": ONEOF_TENSOR,
    "obsolete_old_style_histogram": ONEOF_OBSOLETE,
}
# What the index decoded of a value: nothing (decode later), a float32 scalar (simple_value
# or DT_FLOAT tensor), a histogram, a float64 scalar (DT_DOUBLE tensor), a Summary.Image or
# Summary.Audio (its fields, and where its bytes are), a string tensor of the plain layout
# of text_shape (its shape, and where its strings are). Printing needs to know which
# precision a scalar was written in (dump shows float32 at float32's shortest).
COL_NONE, COL_SCALAR, COL_HISTO, COL_SCALAR64, COL_IMAGE, COL_AUDIO = 0, 1, 2, 3, 4, 5
COL_STRINGS = 6
#: Values whose contents still need the record's payload (or its decoded event).
_NEEDS_PAYLOAD = np.array([COL_NONE, COL_IMAGE, COL_AUDIO, COL_STRINGS], dtype=np.uint8)


def scalar_rows(v_col: np.ndarray) -> np.ndarray:
    """Which values the index decoded as scalars (either precision)."""
    return (v_col == COL_SCALAR) | (v_col == COL_SCALAR64)


DT_FLOAT, DT_DOUBLE, DT_STRING = 1, 2, 7
#: String tensors of more dims than this are decoded one by one (numpy holds at most 64).
MAX_TEXT_RANK = 32


@dataclass(eq=False)
class ChunkIndex:
    """Records ``r_*`` and summary values ``v_*`` of consecutive records of one file.

    ``v_rec`` points into the record columns. Histogram columns ``h_*`` hold one entry per
    value whose ``v_col`` is ``COL_HISTO``, in value order; ``h_count[i]`` buckets of
    ``h_limits``/``h_buckets`` belong to entry ``i``. Image columns ``i_*`` likewise, per
    ``COL_IMAGE`` value: its size and colorspace, and its encoded bytes as ``i_length``
    bytes from ``i_start`` in the record's payload (``i_start`` -1: in the decoded event;
    :meth:`image_blobs`). Audio columns ``a_*`` per ``COL_AUDIO`` value the same way, with
    its content type as ``a_type_length`` bytes from ``a_type_start`` (:meth:`audio_parts`).
    String tensors ``t_*`` per ``COL_STRINGS`` value: ``t_rank`` dims in ``t_dims`` and
    ``t_count`` strings, each ``t_length`` bytes from ``t_start`` (-1: see event;
    :meth:`strings`).
    ``v_tag`` indexes ``tags`` and ``v_meta`` indexes ``metas`` (canonical, non-empty
    serialized ``SummaryMetadata``; -1: none, including metadata present but empty:
    :mod:`tbtool.format.summary_metadata`). ``payloads`` maps record positions to payload bytes
    when ``buffer`` (the bytes the offsets point into) is not kept.
    """

    file: str
    r_index: np.ndarray  # int64 record number in the file
    r_offset: np.ndarray  # int64 byte offset of the record (its header) in the file
    r_length: np.ndarray  # int64 payload length
    r_wall_time: np.ndarray  # float64
    r_step: np.ndarray  # int64
    r_what: np.ndarray  # uint8, WHAT_CODES
    v_rec: np.ndarray  # int64
    v_widx: np.ndarray  # int32 position of the value in Event.summary.value
    v_tag: np.ndarray  # int32
    v_meta: np.ndarray  # int32
    v_oneof: np.ndarray  # uint8, ONEOF_*
    v_col: np.ndarray  # uint8, COL_*
    v_scalar: np.ndarray  # float64 (NaN unless COL_SCALAR or COL_SCALAR64)
    h_min: np.ndarray
    h_max: np.ndarray
    h_num: np.ndarray
    h_sum: np.ndarray
    h_sum_squares: np.ndarray
    h_count: np.ndarray  # int64
    h_limits: np.ndarray
    h_buckets: np.ndarray
    i_height: np.ndarray  # int64
    i_width: np.ndarray  # int64
    i_colorspace: np.ndarray  # int64
    i_start: np.ndarray  # int64 offset of the encoded bytes in the payload; -1: see event
    i_length: np.ndarray  # int64
    a_sample_rate: np.ndarray  # float64 (written as float32)
    a_channels: np.ndarray  # int64
    a_frames: np.ndarray  # int64
    a_start: np.ndarray  # int64 offset of the encoded bytes in the payload; -1: see event
    a_length: np.ndarray  # int64
    a_type_start: np.ndarray  # int64 offset of the content type; -1: see event
    a_type_length: np.ndarray  # int64
    t_rank: np.ndarray  # int64 dims of each COL_STRINGS value's shape
    t_dims: np.ndarray  # int64, t_rank[i] of them per entry
    t_count: np.ndarray  # int64 strings per entry (the product of its dims)
    t_start: np.ndarray  # int64 per string: offset in the payload; -1: see event
    t_length: np.ndarray  # int64 per string
    tags: list[str]
    metas: list[bytes]
    buffer: Any = None  # bytes-like holding the payloads; offsets are relative to base
    base: int = 0  # file offset of buffer[0]
    payloads: dict[int, bytes] = field(default_factory=dict)
    events: dict[int, Any] = field(default_factory=dict)  # decoded Events by record position

    @property
    def records(self) -> int:
        return len(self.r_index)

    @property
    def values(self) -> int:
        return len(self.v_rec)

    def payload(self, rec: int) -> bytes:
        """The payload of record position ``rec`` (12 bytes past the record's start)."""
        found = self.payloads.get(rec)
        if found is not None:
            return found
        start = int(self.r_offset[rec]) - self.base + 12
        return bytes(self.buffer[start : start + int(self.r_length[rec])])

    def event(self, rec: int) -> Any:
        """The decoded ``Event`` of record position ``rec`` (:class:`EventDecodeError` with
        file, offset and record if protobuf rejects bytes a decoder let through)."""
        found = self.events.get(rec)
        if found is None:
            found = self.events[rec] = decode_event(
                self.payload(rec),
                file=self.file,
                offset=int(self.r_offset[rec]),
                index=int(self.r_index[rec]),
            )
        return found

    def image_blobs(self, rows: np.ndarray) -> Blobs:
        """The encoded bytes of the ``COL_IMAGE`` values at ``rows`` (value rows), as slices
        of the buffer or payload they are in (not copied yet)."""
        entry = (np.cumsum(self.v_col == COL_IMAGE) - 1)[rows]
        return self._blobs(
            rows, self.i_start[entry], self.i_length[entry],
            lambda value: value.image.encoded_image_string,
        )  # fmt: skip

    def audio_parts(self, rows: np.ndarray) -> tuple[Blobs, list[str]]:
        """The encoded bytes and the content types of the ``COL_AUDIO`` values at ``rows``."""
        entry = (np.cumsum(self.v_col == COL_AUDIO) - 1)[rows]
        clips = self._blobs(
            rows, self.a_start[entry], self.a_length[entry],
            lambda value: value.audio.encoded_audio_string,
        )  # fmt: skip
        types = self._slices(
            rows, self.a_type_start[entry], self.a_type_length[entry],
            lambda value: value.audio.content_type.encode(),
        )  # fmt: skip
        return clips, [bytes(t).decode() for t in types]

    def _blobs(
        self, rows: np.ndarray, starts: np.ndarray, lengths: np.ndarray, from_value: Any
    ) -> Blobs:
        """:meth:`_slices` as :class:`Blobs`, the slices of the read buffer not copied."""
        if (starts < 0).any() or self.buffer is None or self.payloads:
            return Blobs(self._slices(rows, starts, lengths, from_value))
        at = self.r_offset[self.v_rec[rows]] - self.base + 12 + starts
        view = memoryview(self.buffer)
        return Blobs([view[a : a + n] for a, n in zip(at.tolist(), lengths.tolist(), strict=True)])

    def strings(self, rows: np.ndarray) -> list[list[bytes]]:
        """The strings of the ``COL_STRINGS`` values at ``rows``, each value's in row-major
        order, sliced once from the buffer or payload they are in (or taken from the decoded
        event, where the index does not say where they lie)."""
        entry = (np.cumsum(self.v_col == COL_STRINGS) - 1)[rows]
        ends = np.cumsum(self.t_count)
        firsts = (ends - self.t_count)[entry].tolist()
        recs = self.v_rec[rows].tolist()
        widxs = self.v_widx[rows].tolist()
        starts, lengths = self.t_start.tolist(), self.t_length.tolist()
        out: list[list[bytes]] = []
        for rec, widx, first, end in zip(recs, widxs, firsts, ends[entry].tolist(), strict=True):
            if first == end:
                out.append([])
            elif starts[first] < 0:
                out.append(list(self.event(rec).summary.value[widx].tensor.string_val))
            else:
                data = self.payloads.get(rec)
                at = 0
                if data is None:
                    data, at = self.buffer, int(self.r_offset[rec]) - self.base + 12
                out.append(
                    [
                        bytes(data[at + s : at + s + n])
                        for s, n in zip(starts[first:end], lengths[first:end], strict=True)
                    ]
                )
        return out

    def first_string_places(
        self, rows: np.ndarray, entry: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """``(starts, lengths)`` in ``buffer`` of the first string of the ``COL_STRINGS``
        values at ``rows`` (``entry``: their entries), or ``None`` unless all lie there (a
        detached index, or one the pure-Python decoder built, holds them elsewhere)."""
        if self.buffer is None or not len(self.t_start):
            return None
        first = (np.cumsum(self.t_count) - self.t_count)[entry]
        starts = self.t_start[first]
        if (starts < 0).any():
            return None
        recs = self.v_rec[rows]
        if self.payloads and np.isin(recs, list(self.payloads)).any():
            return None
        return self.r_offset[recs] - self.base + 12 + starts, self.t_length[first]

    def string_shapes(self, rows: np.ndarray) -> list[tuple[int, ...]]:
        """The shapes of the ``COL_STRINGS`` values at ``rows``."""
        entry = (np.cumsum(self.v_col == COL_STRINGS) - 1)[rows]
        ends = np.cumsum(self.t_rank)
        dims = self.t_dims.tolist()
        return [
            tuple(dims[end - rank : end])
            for end, rank in zip(ends[entry].tolist(), self.t_rank[entry].tolist(), strict=True)
        ]

    def _slices(
        self, rows: np.ndarray, starts: np.ndarray, lengths: np.ndarray, from_value: Any
    ) -> list[bytes]:
        """Bytes of each value's record at ``starts``/``lengths`` of its payload; a start
        of -1 takes them from the decoded value (``from_value``)."""
        out = []
        recs = self.v_rec[rows].tolist()
        for row, rec, start, length in zip(
            rows.tolist(), recs, starts.tolist(), lengths.tolist(), strict=True
        ):
            if start < 0:
                out.append(from_value(self.event(rec).summary.value[int(self.v_widx[row])]))
                continue
            found = self.payloads.get(rec)
            if found is not None:
                out.append(found[start : start + length])
            else:
                at = int(self.r_offset[rec]) - self.base + 12 + start
                out.append(bytes(self.buffer[at : at + length]))
        return out

    def metadata(self, meta_id: int) -> Any:
        """``metas[meta_id]`` as a ``SummaryMetadata``; an error names the first record
        holding it."""
        data = self.metas[meta_id]
        try:
            return SummaryMetadata.FromString(data)
        except DecodeError:
            pass
        offset, index = self.first_use(meta_id)
        return parse_metadata(data, file=self.file, offset=offset, index=index)  # raises

    def first_use(self, meta_id: int) -> tuple[int | None, int | None]:
        """(offset, record index) of the first record with a value of metadata ``meta_id``."""
        rows = np.flatnonzero(self.v_meta == meta_id)
        if not len(rows):
            return None, None
        rec = int(self.v_rec[rows[0]])
        return int(self.r_offset[rec]), int(self.r_index[rec])

    def detach(self, recs: np.ndarray | None = None) -> ChunkIndex:
        """Keep the payloads of records ``recs`` (default: those holding a value the index
        did not decode, and whole non-summary events) and drop the buffer, so the index can
        travel between processes."""
        if self.buffer is not None:
            if recs is None:
                undecoded = self.v_rec[np.isin(self.v_col, _NEEDS_PAYLOAD)]
                other = np.flatnonzero((self.r_what != 0) & (self.r_what != WHAT_CODES["summary"]))
                recs = np.unique(np.concatenate([undecoded, other]))
            for rec in recs.tolist():
                if rec not in self.events:
                    self.payloads.setdefault(rec, self.payload(rec))
        self.buffer = None
        return self


IMAGE_COLUMNS = ("i_height", "i_width", "i_colorspace", "i_start", "i_length")
AUDIO_COLUMNS = (
    *("a_sample_rate", "a_channels", "a_frames", "a_start", "a_length"),
    *("a_type_start", "a_type_length"),
)
STRING_COLUMNS = ("t_rank", "t_dims", "t_count", "t_start", "t_length")
_PLAIN_COLUMNS = (
    *("r_index", "r_offset", "r_length", "r_wall_time", "r_step", "r_what"),
    *("v_widx", "v_oneof", "v_col", "v_scalar"),
    *("h_min", "h_max", "h_num", "h_sum", "h_sum_squares", "h_count", "h_limits", "h_buckets"),
    *IMAGE_COLUMNS,
    *AUDIO_COLUMNS,
    *STRING_COLUMNS,
)


def concat_indexes(parts: list[ChunkIndex]) -> ChunkIndex:
    """One index of consecutive parts of the same buffer (tags and metadata re-numbered)."""
    if len(parts) == 1:
        return parts[0]
    tag_ids: dict[str, int] = {}
    meta_ids: dict[bytes, int] = {}
    v_tag, v_meta, v_rec = [], [], []
    payloads: dict[int, bytes] = {}
    events: dict[int, Any] = {}
    shift = 0
    for part in parts:
        tag_map = np.array(
            [tag_ids.setdefault(t, len(tag_ids)) for t in part.tags] or [0], dtype=np.int32
        )
        meta_map = np.array(
            [meta_ids.setdefault(m, len(meta_ids)) for m in part.metas] + [-1], dtype=np.int32
        )
        v_tag.append(tag_map[part.v_tag] if part.values else part.v_tag)
        v_meta.append(meta_map[part.v_meta])  # -1 indexes the trailing -1
        v_rec.append(part.v_rec + shift)
        payloads.update({rec + shift: p for rec, p in part.payloads.items()})
        events.update({rec + shift: e for rec, e in part.events.items()})
        shift += part.records
    tags = list(tag_ids)
    metas = list(meta_ids)

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    first = parts[0]
    return ChunkIndex(
        file=first.file,
        **{name: cat(name) for name in _PLAIN_COLUMNS},
        v_rec=np.concatenate(v_rec),
        v_tag=np.concatenate(v_tag).astype(np.int32),
        v_meta=np.concatenate(v_meta).astype(np.int32),
        tags=tags,
        metas=metas,
        buffer=first.buffer,
        base=first.base,
        payloads=payloads,
        events=events,
    )
