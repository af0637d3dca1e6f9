"""Histograms: torch's binning rules, encoded as a ``HistogramProto`` by hand.

``add_histogram`` (format.md §4.4): values flattened to float64; ``bins="tensorflow"``
means torch's 1549 exponential edges, anything else is passed to ``numpy.histogram``;
``max_bins`` merges neighbouring bins; the result is trimmed to the support (keeping one
empty bucket before the first non-empty one). The counting is ``numpy.histogram`` itself,
so buckets are the ones torch writes; what torch spends its time on (building lists, the
protobuf, a pure-Python CRC) is replaced by packing the arrays' bytes directly.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from tbtool.writer.convert import check_finite, to_float, to_real_array
from tbtool.writer.wire import length_delimited, varint

_pack_f64 = struct.Struct("<d").pack


def _torch_default_bins() -> np.ndarray:
    """torch's ``SummaryWriter.default_bins``: ±1e-12·1.1^k below 1e20, and 0 (1549 edges).

    Computed by the same repeated multiplication so every edge is bit-identical."""
    v = 1e-12
    buckets = []
    neg_buckets = []
    while v < 1e20:
        buckets.append(v)
        neg_buckets.append(-v)
        v *= 1.1
    return np.array([*neg_buckets[::-1], 0, *buckets], dtype=np.float64)


DEFAULT_BINS = _torch_default_bins()
DEFAULT_BINS.flags.writeable = False


def _double(field_key: int, x: float) -> bytes:
    """A double field, omitted when +0.0 (proto3's default), as protobuf writes it."""
    if x == 0.0 and math.copysign(1.0, x) > 0:
        return b""
    return bytes((field_key,)) + _pack_f64(x)


def _packed_doubles(field_number: int, array: np.ndarray) -> bytes:
    if not array.size:
        return b""
    data = np.ascontiguousarray(array, dtype="<f8").tobytes()
    return bytes((field_number << 3 | 2,)) + varint(len(data)) + data


def histogram_proto_bytes(
    min: float,
    max: float,
    num: float,
    sum: float,
    sum_squares: float,
    bucket_limit: np.ndarray,
    bucket: np.ndarray,
) -> bytes:
    """A serialized ``HistogramProto`` (format.md §2.4)."""
    return b"".join(
        (
            _double(0x09, min),
            _double(0x11, max),
            _double(0x19, num),
            _double(0x21, sum),
            _double(0x29, sum_squares),
            _packed_doubles(6, bucket_limit),
            _packed_doubles(7, bucket),
        )
    )


def histo_value(tag: bytes, histo: bytes) -> bytes:
    """``Summary.Value{tag, histo}``."""
    return length_delimited(1, tag) + length_delimited(5, histo)


def make_histogram(
    values: np.ndarray,
    bins: Any,
    max_bins: int | None = None,
    extremes: tuple[float, float] | None = None,
) -> bytes:
    """torch's ``make_histogram`` (``summary.py``) on a flat float64 array, serialized.
    ``extremes``: ``(min, max)`` when the caller has them already."""
    try:
        counts, limits = np.histogram(values, bins=bins)
    except (ValueError, TypeError) as e:
        raise ValueError(f"bins {bins!r} cannot be used by numpy.histogram: {e}") from None
    num_bins = len(counts)
    if max_bins is not None and num_bins > max_bins:
        subsampling = num_bins // max_bins
        subsampling_remainder = num_bins % subsampling
        if subsampling_remainder != 0:
            counts = np.pad(
                counts,
                pad_width=[[0, subsampling - subsampling_remainder]],
                mode="constant",
                constant_values=0,
            )
        counts = counts.reshape(-1, subsampling).sum(axis=-1)
        new_limits = np.empty((counts.size + 1,), limits.dtype)
        new_limits[:-1] = limits[:-1:subsampling]
        new_limits[-1] = limits[-1]
        limits = new_limits
    nonzero = np.flatnonzero(counts)
    if not nonzero.size:
        raise ValueError(
            "values holds no number inside the bins' range, so the histogram would be empty"
        )
    start, end = int(nonzero[0]), int(nonzero[-1]) + 1
    counts = counts[start - 1 : end] if start > 0 else np.concatenate([[0], counts[:end]])
    limits = limits[start : end + 1]
    low, high = extremes if extremes is not None else (values.min(), values.max())
    return histogram_proto_bytes(
        float(low),
        float(high),
        float(len(values)),
        float(values.sum()),
        float(values.dot(values)),
        limits,
        counts,
    )


def histogram_value(tag: bytes, values: Any, bins: Any, max_bins: Any) -> bytes:
    """``add_histogram``'s Summary.Value."""
    array = to_real_array(values, "values")
    if not array.size:
        raise ValueError("values is empty: a histogram needs at least one value")
    array = array.reshape(-1).astype(np.float64, copy=False)
    low, high = float(array.min()), float(array.max())
    if not (math.isfinite(low) and math.isfinite(high)):  # NaN propagates to min and max
        raise ValueError("values contains NaN or infinite values")
    if isinstance(bins, str) and bins == "tensorflow":
        bins = DEFAULT_BINS
    if max_bins is not None:
        if isinstance(max_bins, bool) or not isinstance(max_bins, (int, np.integer)):
            raise TypeError(f"max_bins must be an int, not {type(max_bins).__name__}")
        if max_bins < 1:
            raise ValueError(f"max_bins must be at least 1, got {max_bins}")
        max_bins = int(max_bins)
    return histo_value(tag, make_histogram(array, bins, max_bins, (low, high)))


def histogram_raw_value(
    tag: bytes,
    min: Any,
    max: Any,
    num: Any,
    sum: Any,
    sum_squares: Any,
    bucket_limits: Sequence[float] | Any,
    bucket_counts: Sequence[float] | Any,
) -> bytes:
    """``add_histogram_raw``'s Summary.Value: the numbers as given, checked."""
    stats = {
        "min": min,
        "max": max,
        "num": num,
        "sum": sum,
        "sum_squares": sum_squares,
    }
    numbers = {}
    for name, value in stats.items():
        number = to_float(value, name)
        if math.isnan(number):
            raise ValueError(f"{name} is NaN")
        numbers[name] = number
    limits = to_real_array(bucket_limits, "bucket_limits").astype(np.float64).reshape(-1)
    counts = to_real_array(bucket_counts, "bucket_counts").astype(np.float64).reshape(-1)
    if len(limits) != len(counts):
        raise ValueError(
            f"bucket_limits has {len(limits)} entries but bucket_counts has {len(counts)}; "
            "they must have the same length"
        )
    if np.isnan(limits).any():
        raise ValueError("bucket_limits contains NaN")
    check_finite(counts, "bucket_counts")
    histo = histogram_proto_bytes(
        numbers["min"],
        numbers["max"],
        numbers["num"],
        numbers["sum"],
        numbers["sum_squares"],
        limits,
        counts,
    )
    return histo_value(tag, histo)
