"""Rows of one table kind, in the schemas of contract.md: from typed values (the per-event
engine) or straight from the batch path's columns (:class:`~tbtool.columnar.pieces.Piece`).

:mod:`tbtool.reading.tables` drives the read and streams these rows out a chunk at a time.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from tbtool.columnar import arrow, names
from tbtool.columnar.blobs import FORMAT_BYTES, Blobs
from tbtool.columnar.pieces import Piece
from tbtool.values.typed import (
    PR_ROWS,
    Audio,
    Histogram,
    Image,
    LoggedValue,
    PrCurve,
    Scalar,
    Tensor,
    Text,
    sniff_format,
)
from tbtool.vocabulary.kinds import kind_names

#: Export kind -> the value kind its rows come from.
TABLE_KINDS = {
    "scalars": "scalar",
    "histograms": "histogram",
    "hparams": "hparams",
    "text": "text",
    "images": "image",
    "audio": "audio",
    "tensors": "tensor",
    "pr_curves": "pr_curve",
}

_BASE = [
    ("run", pa.string()),
    ("tag", pa.string()),
    ("step", pa.int64()),
    ("wall_time", pa.float64()),
]
_F64 = pa.float64()
_LIST = pa.list_(pa.float64())
SCHEMAS: dict[str, pa.Schema] = {
    "scalars": pa.schema([*_BASE, ("value", _F64)]),
    "histograms": pa.schema(
        [
            *_BASE,
            *[(c, _F64) for c in ("min", "max", "num", "sum", "sum_squares")],
            ("bucket_left", _LIST),
            ("bucket_right", _LIST),
            ("bucket_count", _LIST),
        ]
    ),
    "text": pa.schema([*_BASE, ("text", pa.string())]),
    "images": pa.schema(
        [
            *_BASE,
            ("sample", pa.int32()),
            ("width", pa.int64()),
            ("height", pa.int64()),
            ("format", pa.string()),
            ("data", pa.binary()),
        ]
    ),
    "audio": pa.schema(
        [
            *_BASE,
            ("sample", pa.int32()),
            ("sample_rate", _F64),
            ("frames", pa.int64()),
            ("channels", pa.int64()),
            ("content_type", pa.string()),
            ("label", pa.string()),
            ("format", pa.string()),
            ("data", pa.binary()),
        ]
    ),
    "tensors": pa.schema(
        [
            *_BASE,
            ("plugin_name", pa.string()),
            ("dtype", pa.string()),
            ("shape", pa.list_(pa.int64())),
            ("values", _LIST),
            ("strings", pa.list_(pa.string())),
            ("error", pa.string()),
        ]
    ),
    "pr_curves": pa.schema(
        [
            *_BASE,
            ("threshold", _F64),
            *[(c, _F64) for c in (*PR_ROWS, "precision", "recall")],
        ]
    ),
}


#: The schemas of the tables read (``read_tables``, ``iter_batches``): run and tag
#: dictionary-encoded (:mod:`tbtool.columnar.names`). Files hold :data:`SCHEMAS`.
DICTIONARY_SCHEMAS: dict[str, pa.Schema] = {k: names.encoded(s) for k, s in SCHEMAS.items()}


def check_kinds(kinds: Sequence[str]) -> list[str]:
    """Table kinds in canonical order, each given singular or plural; ``all`` stands for
    every kind."""
    wanted = set(kind_names(kinds, [*TABLE_KINDS, "all"]))
    if "all" in wanted:
        wanted.update(TABLE_KINDS)
    return [k for k in TABLE_KINDS if k in wanted]


# -- rows of one kind from typed values -------------------------------------------------------
def _base(item: LoggedValue) -> list[Any]:
    return [item.run, item.tag, item.step, item.wall_time]


def wav_info(data: bytes, length: int | None = None) -> tuple[float | None, int | None, int | None]:
    """(sample rate, channels, frames) from a RIFF/WAVE header, else Nones. ``data`` may be
    the clip's first bytes only, when ``length`` says how long the whole clip is."""
    length = len(data) if length is None else length
    if len(data) < 12 or not data.startswith(b"RIFF") or data[8:12] != b"WAVE":
        return None, None, None
    pos, rate, channels, block = 12, None, None, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt " and size >= 16 and body + 16 <= len(data):
            channels, sample_rate, _, block = struct.unpack_from("<HIIH", data, body + 2)
            rate = float(sample_rate)
        elif chunk_id == b"data":
            available = min(size, length - body)
            frames = available // block if block else None
            return rate, channels, frames
        pos = body + size + (size & 1)
    return rate, channels, None


def _histogram_row(h: Histogram) -> list[Any]:
    empty = not len(h.count)
    return [
        h.min if h.min is not None else (np.nan if empty else float(h.left[0])),
        h.max if h.max is not None else (np.nan if empty else float(h.right[-1])),
        h.num if h.num is not None else h.total,
        h.sum if h.sum is not None else np.nan,
        h.sum_squares if h.sum_squares is not None else np.nan,
        np.asarray(h.left, dtype=np.float64),
        np.asarray(h.right, dtype=np.float64),
        np.asarray(h.count, dtype=np.float64),
    ]


def _tensor_row(t: Tensor) -> list[Any]:
    values = strings = None
    array = t.array
    if array is not None:
        if array.dtype == object:
            strings = [
                s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s)
                for s in array.reshape(-1)
            ]
        elif np.iscomplexobj(array):
            flat = array.reshape(-1)
            values = np.stack([flat.real, flat.imag], axis=1).reshape(-1).astype(np.float64)
        else:
            values = array.reshape(-1).astype(np.float64)
    shape = list(t.shape) if t.shape is not None else None
    return [t.plugin_name, t.dtype, shape, values, strings, t.error]


def rows_of(kind: str, item: LoggedValue) -> list[list[Any]]:
    """The rows (without run/tag/step/wall_time) one typed value gives in table ``kind``."""
    value = item.value
    if kind == "scalars" and isinstance(value, Scalar):
        return [[value.value]]
    if kind == "histograms" and isinstance(value, Histogram):
        return [_histogram_row(value)]
    if kind == "text" and isinstance(value, Text):
        return [[value.cell()]]
    if kind == "images" and isinstance(value, Image):
        return [
            [i, value.width, value.height, sniff_format(blob), blob]
            for i, blob in enumerate(value.images)
        ]
    if kind == "audio" and isinstance(value, Audio):
        rows = []
        for i, clip in enumerate(value.clips):
            rate, channels, frames = wav_info(clip)
            fmt = sniff_format(clip)
            rows.append(
                [
                    i,
                    value.sample_rate if value.sample_rate else rate,
                    value.length_frames if value.length_frames else frames,
                    value.num_channels if value.num_channels else channels,
                    value.content_type or (f"audio/{fmt}" if fmt != "unknown" else None),
                    value.labels[i] if i < len(value.labels) else "",
                    fmt,
                    clip,
                ]
            )
        return rows
    if kind == "tensors" and isinstance(value, Tensor):
        return [_tensor_row(value)]
    if kind == "pr_curves" and isinstance(value, PrCurve):
        data = value.data
        return [
            [float(threshold), *(float(data[r, j]) for r in range(6))]
            for j, threshold in enumerate(value.thresholds)
        ]
    return []


def _from_rows(kind: str, rows: list[list[Any]]) -> pa.RecordBatch:
    schema = SCHEMAS[kind]
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    arrays = []
    for column, f in zip(columns, schema, strict=True):
        if pa.types.is_list(f.type) and pa.types.is_floating(f.type.value_type):
            arrays.append(_list_array(column))
        else:
            arrays.append(arrow.from_python(column, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _list_array(items: Sequence[Any]) -> pa.Array:
    """list<double> from numpy arrays / None, without per-element Python objects."""
    lengths = np.array([0 if x is None else len(x) for x in items], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    parts = [np.asarray(x, dtype=np.float64) for x in items if x is not None and len(x)]
    flat = np.concatenate(parts) if parts else np.zeros(0)
    missing = [x is None for x in items]
    mask = arrow.from_python(missing, pa.bool_()) if any(missing) else None
    return pa.ListArray.from_arrays(arrow.numbers(offsets), arrow.numbers(flat), mask=mask)


def _value_rows(kind: str, items: Sequence[LoggedValue]) -> tuple[list[list[Any]], list[int]]:
    """The rows of ``items`` in table ``kind`` and how many each gave."""
    rows: list[list[Any]] = []
    counts = []
    for item in items:
        produced = rows_of(kind, item)
        rows.extend(_base(item) + row for row in produced)
        counts.append(len(produced))
    return rows, counts


def values_batch(kind: str, items: Sequence[LoggedValue]) -> pa.RecordBatch:
    """Table ``kind`` rows of typed values (the general path, and the events engine), with
    run and tag dictionary-encoded (:mod:`tbtool.columnar.names`)."""
    return names.encode(_from_rows(kind, _value_rows(kind, items)[0]))


# -- rows straight from the bulk columns ------------------------------------------------------
#: A chunk's rows of one table kind: a column per field, as an Arrow array, or as
#: :class:`~tbtool.columnar.blobs.Blobs` for encoded images and clips (copied once, where
#: they end up).
Columns = dict[str, Any]


def _fast_columns(kind: str, piece: Piece) -> tuple[Columns, np.ndarray] | None:
    """The rows the index decoded in bulk, and their places in the chunk."""
    cols = {
        "scalars": piece.scalars,
        "histograms": piece.histograms,
        "images": piece.images,
        "audio": piece.audio,
        "text": piece.text,
    }.get(kind)
    if not cols or not len(cols["row"]):
        return None
    n = len(cols["row"])
    out: Columns = {
        "run": names.repeated(piece.run, n),
        "tag": names.from_ids(cols["tag"], piece.tags),
        "step": arrow.numbers(cols["step"], pa.int64()),
        "wall_time": arrow.numbers(cols["wall_time"], pa.float64()),
    }
    if kind == "scalars":
        out["value"] = arrow.numbers(cols["value"], pa.float64())
    elif kind == "histograms":
        for name in ("min", "max", "num", "sum", "sum_squares"):
            out[name] = arrow.numbers(cols[name], pa.float64())
        offsets = arrow.numbers(cols["offsets"], pa.int32())
        for name in ("left", "right", "count"):
            values = arrow.numbers(cols[name], pa.float64())
            out[f"bucket_{name}"] = pa.ListArray.from_arrays(offsets, values)
    elif kind == "text":
        out["text"] = arrow.from_python(cols["text"], pa.string())
    elif kind == "audio":  # one clip per Summary.Audio: the rule of rows_of
        out.update(_audio_columns(cols, n))
    else:  # one sample per Summary.Image
        out["sample"] = arrow.numbers(np.zeros(n, dtype=np.int32))
        out["width"] = arrow.numbers(cols["width"], pa.int64())
        out["height"] = arrow.numbers(cols["height"], pa.int64())
        out["format"] = arrow.strings(
            [sniff_format(head) for head in cols["data"].heads(FORMAT_BYTES)]
        )
        out["data"] = cols["data"]
    return out, cols["row"]


def _audio_columns(cols: dict[str, Any], n: int) -> Columns:
    """What :func:`rows_of` gives a one-clip ``Audio``: the value's fields where set, else
    what the clip's WAV header says; its label is empty."""
    rates, channels, frames, types, formats = [], [], [], [], []
    clips = cols["data"]
    for rate, chans, length, content_type, head, size in zip(
        cols["sample_rate"].tolist(), cols["channels"].tolist(), cols["frames"].tolist(),
        cols["content_type"], clips.heads(), clips.sizes(), strict=True,
    ):  # fmt: skip
        wav_rate, wav_channels, wav_frames = wav_info(head, size)
        fmt = sniff_format(head)
        rates.append(rate if rate else wav_rate)
        frames.append(length if length else wav_frames)
        channels.append(chans if chans else wav_channels)
        types.append(content_type or (f"audio/{fmt}" if fmt != "unknown" else None))
        formats.append(fmt)
    return {
        "sample": arrow.numbers(np.zeros(n, dtype=np.int32)),
        "sample_rate": arrow.from_python(rates, pa.float64()),
        "frames": arrow.from_python(frames, pa.int64()),
        "channels": arrow.from_python(channels, pa.int64()),
        "content_type": arrow.from_python(types, pa.string()),
        "label": arrow.strings([""] * n),
        "format": arrow.strings(formats),
        "data": cols["data"],
    }


def piece_columns(kind: str, piece: Piece) -> Columns | None:
    """Table ``kind`` rows of one chunk's piece, in read order (bulk columns and values
    decoded one by one, merged by their place in the chunk)."""
    fast = _fast_columns(kind, piece)
    items, rows = [], []
    value_kind = TABLE_KINDS[kind]
    for item, row in zip(piece.values, piece.value_rows, strict=True):
        if item.kind == value_kind:
            items.append(item)
            rows.append(row)
    if not items:
        return fast[0] if fast else None
    value_rows, counts = _value_rows(kind, items)
    slow = names.encode(_from_rows(kind, value_rows))
    if fast is None:
        return dict(zip(slow.schema.names, slow.columns, strict=True))
    keys = np.concatenate([fast[1], np.repeat(np.asarray(rows, dtype=np.int64), counts)])
    order = np.argsort(keys, kind="stable")  # a value's rows stay in sample order
    merged: Columns = {}
    for f, b in zip(slow.schema, slow.columns, strict=True):
        a = fast[0][f.name]
        if isinstance(a, Blobs):
            a = a.arrow()
        if f.name in names.NAME_COLUMNS:
            merged[f.name] = names.merge([a, b]).take(arrow.numbers(order))
        else:
            merged[f.name] = pa.concat_arrays([a, b]).take(arrow.numbers(order))
    return merged


def piece_batch(kind: str, piece: Piece) -> pa.RecordBatch | None:
    """:func:`piece_columns` as a record batch."""
    cols = piece_columns(kind, piece)
    if cols is None:
        return None
    schema = DICTIONARY_SCHEMAS[kind]
    arrays = [
        cols[f.name].arrow() if isinstance(cols[f.name], Blobs) else cols[f.name] for f in schema
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
