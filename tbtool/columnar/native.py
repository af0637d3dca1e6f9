"""The C extension ``tbtool.columnar._columnar``, when it is built, and the glue around its output.

The extension is optional: ``pip install`` builds it where a C compiler exists, and every
caller falls back to the pure-Python decoder when :func:`module` returns ``None`` (or when
``TBTOOL_PURE_PYTHON=1`` is set, which tests and benchmarks use to compare the two);
:mod:`tbtool.columnar.decoder` says which one runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from tbtool.columnar.decoder import available, module
from tbtool.columnar.index import ChunkIndex
from tbtool.format.summary_metadata import SummaryMetadata, metadata_key, parse_metadata

__all__ = ["available", "module", "scan"]

_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("r_offset", np.int64),
    ("r_length", np.int64),
    ("r_wall_time", np.float64),
    ("r_step", np.int64),
    ("r_what", np.uint8),
    ("v_rec", np.int64),
    ("v_widx", np.int32),
    ("v_tag", np.int32),
    ("v_meta", np.int32),
    ("v_oneof", np.uint8),
    ("v_col", np.uint8),
    ("v_scalar", np.float64),
    ("h_min", np.float64),
    ("h_max", np.float64),
    ("h_num", np.float64),
    ("h_sum", np.float64),
    ("h_sum_squares", np.float64),
    ("h_count", np.int64),
    ("h_limits", np.float64),
    ("h_buckets", np.float64),
    ("i_height", np.int64),
    ("i_width", np.int64),
    ("i_colorspace", np.int64),
    ("i_start", np.int64),
    ("i_length", np.int64),
    ("a_sample_rate", np.float64),
    ("a_channels", np.int64),
    ("a_frames", np.int64),
    ("a_start", np.int64),
    ("a_length", np.int64),
    ("a_type_start", np.int64),
    ("a_type_length", np.int64),
    ("t_rank", np.int64),
    ("t_dims", np.int64),
    ("t_count", np.int64),
    ("t_start", np.int64),
    ("t_length", np.int64),
)


def scan(
    ext: Any, buf: Any, pos: int, base: int, index: int, max_record_length: int, file: str
) -> tuple[ChunkIndex, int, int]:
    """Run the C scan from ``pos``: ``(index of the records decoded, new pos, stop code)``."""
    end, stop, columns, tags, metas = ext.scan(buf, pos, base, max_record_length)
    arrays = {
        name: np.frombuffer(data, dtype=dtype)
        for (name, dtype), data in zip(_COLUMNS, columns, strict=True)
    }
    records = len(arrays["r_offset"])
    if metas:
        metas, arrays["v_meta"] = _canonical_metas(metas, arrays, file, index)
    chunk = ChunkIndex(
        file=file,
        r_index=np.arange(index, index + records, dtype=np.int64),
        tags=tags,
        metas=metas,
        buffer=buf,
        base=base,
        **arrays,
    )
    return chunk, end, stop


def _canonical_metas(
    raw: list[bytes], arrays: dict[str, np.ndarray], file: str, index: int
) -> tuple[list[bytes], np.ndarray]:
    """The C scan keeps each value's ``SummaryMetadata`` bytes as written; the index holds
    them as the pure-Python decoder does (:func:`~tbtool.format.summary_metadata.metadata_key`):
    canonical, equal encodings merged, present-but-empty ones as no metadata (-1)."""
    metas: list[bytes] = []
    ids: dict[bytes, int] = {}
    remap = np.empty(len(raw) + 1, dtype=np.int32)
    remap[-1] = -1  # v_meta -1 stays -1
    for i, data in enumerate(raw):
        try:
            metadata = SummaryMetadata.FromString(data)
        except DecodeError:  # bytes the C scan let through and protobuf rejects: say where
            rec = int(arrays["v_rec"][np.flatnonzero(arrays["v_meta"] == i)[0]])
            offset = int(arrays["r_offset"][rec])
            metadata = parse_metadata(data, file=file, offset=offset, index=index + rec)
        key = metadata_key(metadata)
        if key is None:
            remap[i] = -1
        else:
            remap[i] = ids.setdefault(key, len(metas))
            if remap[i] == len(metas):
                metas.append(key)
    return metas, remap[arrays["v_meta"]]
