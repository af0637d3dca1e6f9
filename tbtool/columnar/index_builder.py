"""The pure-Python decoder's index builder: records decoded with protobuf, one at a time,
into the same :class:`~tbtool.columnar.index.ChunkIndex` the C scan builds (tests compare
the two on every fixture and in the payload fuzzer).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np

# Event.what oneof, as codes (0 = not set).
from tbtool.columnar.index import (
    AUDIO_COLUMNS,
    COL_AUDIO,
    COL_HISTO,
    COL_IMAGE,
    COL_NONE,
    COL_SCALAR,
    COL_SCALAR64,
    COL_STRINGS,
    DT_DOUBLE,
    DT_FLOAT,
    DT_STRING,
    IMAGE_COLUMNS,
    MAX_TEXT_RANK,
    ONEOF_CODES,
    STRING_COLUMNS,
    WHAT_CODES,
    ChunkIndex,
)
from tbtool.format.summary_metadata import metadata_key


def empty_index(file: str) -> ChunkIndex:
    return IndexBuilder().finish(file)


def text_shape(tensor: Any) -> tuple[int, ...] | None:
    """The shape of a string tensor in its plain layout: DT_STRING, a known shape of at most
    :data:`MAX_TEXT_RANK` dims, and ``string_val`` listing exactly its elements; else
    ``None`` (the C decoder applies exactly this rule; padded, unknown or other tensors are
    decoded later). What the strings decode to then cannot fail."""
    if tensor.dtype != DT_STRING:
        return None
    shape = tensor.tensor_shape
    if shape.unknown_rank or len(shape.dim) > MAX_TEXT_RANK:
        return None
    dims = tuple(int(d.size) for d in shape.dim)
    if any(d < 0 for d in dims) or math.prod(dims) != len(tensor.string_val):
        return None
    return dims


def _simple_tensor_scalar(tensor: Any) -> float | None:
    """The value of a one-element DT_FLOAT/DT_DOUBLE tensor in its plainest encodings, else
    ``None`` (the C decoder applies exactly this rule; anything else is decoded later)."""
    dtype = tensor.dtype
    if dtype != DT_FLOAT and dtype != DT_DOUBLE:
        return None
    shape = tensor.tensor_shape
    if shape.unknown_rank or any(d.size != 1 for d in shape.dim):
        return None
    content = tensor.tensor_content
    if content:
        if dtype == DT_FLOAT:
            return float(np.frombuffer(content, "<f4")[0]) if len(content) == 4 else None
        return float(np.frombuffer(content, "<f8")[0]) if len(content) == 8 else None
    values = tensor.float_val if dtype == DT_FLOAT else tensor.double_val
    return float(values[0]) if len(values) == 1 else None


class IndexBuilder:
    """Builds a :class:`ChunkIndex` from decoded ``Event`` messages (the pure-Python path)."""

    def __init__(self) -> None:
        self.r_index = array("q")
        self.r_offset = array("q")
        self.r_length = array("q")
        self.r_wall_time = array("d")
        self.r_step = array("q")
        self.r_what = array("B")
        self.v_rec = array("q")
        self.v_widx = array("i")
        self.v_tag = array("i")
        self.v_meta = array("i")
        self.v_oneof = array("B")
        self.v_col = array("B")
        self.v_scalar = array("d")
        self.h_stats = [array("d") for _ in range(5)]
        self.h_count = array("q")
        self.h_limits = array("d")
        self.h_buckets = array("d")
        self.i_columns = [array("q") for _ in range(5)]  # height, width, colorspace, start, length
        self.a_columns = [array("d"), *(array("q") for _ in range(6))]  # as AUDIO_COLUMNS
        self.t_columns = [array("q") for _ in range(5)]  # as STRING_COLUMNS
        self.tags: list[str] = []
        self.tag_ids: dict[str, int] = {}
        self.metas: list[bytes] = []
        self.meta_ids: dict[bytes, int] = {}
        self.payloads: dict[int, bytes] = {}
        self.events: dict[int, Any] = {}

    def add(self, event: Any, index: int, offset: int, length: int) -> None:
        """Index one decoded event (record ``index`` at byte ``offset``)."""
        self.add_many([event], [index], [offset], [length])

    def add_many(
        self,
        events: Any,
        indices: Sequence[int],
        offsets: Sequence[int],
        lengths: Sequence[int],
    ) -> None:
        """Index decoded events in order (one loop, names bound once: the hot path of the
        pure-Python decoder)."""
        self.r_index.extend(indices)
        self.r_offset.extend(offsets)
        self.r_length.extend(lengths)
        wall_append, step_append, what_append = (
            self.r_wall_time.append,
            self.r_step.append,
            self.r_what.append,
        )
        v_rec, v_widx, v_tag = self.v_rec.append, self.v_widx.append, self.v_tag.append
        v_meta, v_oneof, v_col = self.v_meta.append, self.v_oneof.append, self.v_col.append
        v_scalar = self.v_scalar.append
        tag_ids, tags, stored = self.tag_ids, self.tags, self.events
        what_codes, oneof_codes = WHAT_CODES, ONEOF_CODES
        nan = float("nan")
        rec = len(self.r_wall_time)
        for event in events:
            wall_append(event.wall_time)
            step_append(event.step)
            what = event.WhichOneof("what")
            what_append(what_codes[what])
            if what == "summary":
                for widx, value in enumerate(event.summary.value):
                    tag = value.tag or value.node_name
                    tag_id = tag_ids.get(tag)
                    if tag_id is None:
                        tag_id = tag_ids[tag] = len(tags)
                        tags.append(tag)
                    meta_id = self._meta_id(value) if value.HasField("metadata") else -1
                    case = value.WhichOneof("value")
                    if case == "simple_value":
                        col, scalar = COL_SCALAR, value.simple_value
                    else:
                        col, scalar = self._contents(value, case, nan)
                        if col in (COL_NONE, COL_IMAGE, COL_AUDIO, COL_STRINGS):
                            stored[rec] = event
                    v_rec(rec)
                    v_widx(widx)
                    v_tag(tag_id)
                    v_meta(meta_id)
                    v_oneof(oneof_codes[case])
                    v_col(col)
                    v_scalar(scalar)
            rec += 1

    def _meta_id(self, value: Any) -> int:
        data = metadata_key(value.metadata)
        if data is None:
            return -1
        meta_id = self.meta_ids.get(data, -1)
        if meta_id < 0:
            meta_id = self.meta_ids[data] = len(self.metas)
            self.metas.append(data)
        return meta_id

    def _contents(self, value: Any, case: str | None, nan: float) -> tuple[int, float]:
        """(column kind, scalar) of a value that is not a ``simple_value``."""
        if case == "tensor":
            found = _simple_tensor_scalar(value.tensor)
            if found is None:
                return self._strings(value.tensor), nan
            return (COL_SCALAR64 if value.tensor.dtype == DT_DOUBLE else COL_SCALAR), found
        if case == "image":  # its bytes stay in the decoded event (i_start -1)
            img = value.image
            for column, x in zip(
                self.i_columns,
                (img.height, img.width, img.colorspace, -1, len(img.encoded_image_string)),
                strict=True,
            ):
                column.append(x)
            return COL_IMAGE, nan
        if case == "audio":  # its bytes and content type stay in the decoded event
            a = value.audio
            fields = (a.sample_rate, a.num_channels, a.length_frames, -1)
            fields += (len(a.encoded_audio_string), -1, len(a.content_type.encode()))
            for column, x in zip(self.a_columns, fields, strict=True):
                column.append(x)
            return COL_AUDIO, nan
        if case == "histo":
            h = value.histo
            if len(h.bucket_limit) == len(h.bucket):
                for column, x in zip(
                    self.h_stats, (h.min, h.max, h.num, h.sum, h.sum_squares), strict=True
                ):
                    column.append(x)
                self.h_count.append(len(h.bucket))
                self.h_limits.extend(h.bucket_limit)
                self.h_buckets.extend(h.bucket)
                return COL_HISTO, nan
        return COL_NONE, nan

    def _strings(self, tensor: Any) -> int:
        """``COL_STRINGS`` (its shape and string lengths appended; the strings stay in the
        decoded event, ``t_start`` -1) or ``COL_NONE``."""
        shape = text_shape(tensor)
        if shape is None:
            return COL_NONE
        rank, dims, count, start, length = self.t_columns
        rank.append(len(shape))
        dims.extend(shape)
        count.append(len(tensor.string_val))
        for s in tensor.string_val:
            start.append(-1)
            length.append(len(s))
        return COL_STRINGS

    def finish(self, file: str, buffer: Any = None, base: int = 0) -> ChunkIndex:
        def np_(a: array, dtype: Any) -> np.ndarray:
            return np.frombuffer(a, dtype=dtype).copy() if len(a) else np.zeros(0, dtype)

        h = self.h_stats
        return ChunkIndex(
            file=file,
            r_index=np_(self.r_index, np.int64),
            r_offset=np_(self.r_offset, np.int64),
            r_length=np_(self.r_length, np.int64),
            r_wall_time=np_(self.r_wall_time, np.float64),
            r_step=np_(self.r_step, np.int64),
            r_what=np_(self.r_what, np.uint8),
            v_rec=np_(self.v_rec, np.int64),
            v_widx=np_(self.v_widx, np.int32),
            v_tag=np_(self.v_tag, np.int32),
            v_meta=np_(self.v_meta, np.int32),
            v_oneof=np_(self.v_oneof, np.uint8),
            v_col=np_(self.v_col, np.uint8),
            v_scalar=np_(self.v_scalar, np.float64),
            h_min=np_(h[0], np.float64),
            h_max=np_(h[1], np.float64),
            h_num=np_(h[2], np.float64),
            h_sum=np_(h[3], np.float64),
            h_sum_squares=np_(h[4], np.float64),
            h_count=np_(self.h_count, np.int64),
            h_limits=np_(self.h_limits, np.float64),
            h_buckets=np_(self.h_buckets, np.float64),
            **{
                name: np_(column, np.int64)
                for name, column in zip(IMAGE_COLUMNS, self.i_columns, strict=True)
            },
            **{
                name: np_(column, np.float64 if name == "a_sample_rate" else np.int64)
                for name, column in zip(AUDIO_COLUMNS, self.a_columns, strict=True)
            },
            **{
                name: np_(column, np.int64)
                for name, column in zip(STRING_COLUMNS, self.t_columns, strict=True)
            },
            tags=self.tags,
            metas=self.metas,
            buffer=buffer,
            base=base,
            events=self.events,
        )
