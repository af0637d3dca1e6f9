"""The C extension ``tbtool._columnar``, when it is built, and the glue around its output.

The extension is optional: ``pip install`` builds it where a C compiler exists, and every
caller falls back to the pure-Python decoder when :func:`module` returns ``None`` (or when
``TBTOOL_PURE_PYTHON=1`` is set, which tests and benchmarks use to compare the two).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import numpy as np

from tbtool.columnar.index import ChunkIndex

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
)


@cache
def _load() -> Any:
    try:
        from tbtool import _columnar
    except ImportError:
        return None
    return _columnar


def module() -> Any | None:
    """The extension module, or ``None`` if it is not built or disabled by the environment."""
    if os.environ.get("TBTOOL_PURE_PYTHON", "") not in ("", "0"):
        return None
    return _load()


def available() -> bool:
    """Is the C decoder built (whatever the environment says)?"""
    return _load() is not None


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
