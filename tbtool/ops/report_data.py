"""What the HTML report draws, made small: downsampled scalar series, histogram percentile
bands, the last image of each tag, and the tables, as one JSON document.

Downsampling (so a logdir of millions of points gives a file of a few MB): each (run, tag)
series is first reduced to one value per step (the last logged, as in ``diff``), then to at
most ``points`` points with **MinMaxLTTB** (Van Der Donckt et al., 2023, from the
``tsdownsample`` package): a min-max preselection followed by Largest-Triangle-Three-Buckets,
which keeps the visual shape of a line, its spikes included. ``points`` defaults to
``POINT_BUDGET`` shared by all series (at least ``MIN_POINTS``, at most ``MAX_POINTS`` per
series). Numbers travel as base64 typed arrays: steps as int32 (float64 beyond its range),
values as float32 (the 7 significant digits a chart and its hover need; the summary table
holds exact values). Histograms: at most ``HISTOGRAM_STEPS`` evenly spaced steps per series
(the last always kept), each as the 9 percentiles TensorBoard's distribution view draws
(0, 6.68, 15.87, 30.85, 50, 69.15, 84.13, 93.32, 100), interpolated linearly in the buckets.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

POINT_BUDGET = 300_000
MIN_POINTS = 100
MAX_POINTS = 2_000
HISTOGRAM_STEPS = 100
IMAGE_RUNS = 24  # at most this many runs' last image per image tag
IMAGE_BYTES = 2 * 1024 * 1024  # larger images are left out (the file must stay small)
BASIS_POINTS = np.array([0, 668, 1587, 3085, 5000, 6915, 8413, 9332, 10000]) / 10_000
MIME = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}


def b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def encode_steps(steps: np.ndarray) -> dict[str, str]:
    """Steps as int32 where they fit, else float64 (exact to 2**53)."""
    if not len(steps) or (steps.min() >= -(2**31) and steps.max() < 2**31):
        return {"x": b64(steps.astype("<i4")), "xt": "i4"}
    return {"x": b64(steps.astype("<f8")), "xt": "f8"}


def _groups(run: np.ndarray, tag: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
    """(run id, tag id, rows in read order) of every series."""
    if not len(run):
        return
    width = int(tag.max()) + 1
    key = run.astype(np.int64) * width + tag
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    bounds = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1], True])
    for start, end in itertools.pairwise(bounds):
        r, t = divmod(int(sorted_key[start]), width)
        yield r, t, order[start:end]


def _codes(column: pa.ChunkedArray, names: list[str]) -> np.ndarray:
    """Ids of a string column's values in ``names`` (extended with new names, in order)."""
    index = {name: i for i, name in enumerate(names)}
    encoded = pc.dictionary_encode(column.combine_chunks())
    mapping = np.array(
        [index.setdefault(s, len(index)) for s in encoded.dictionary.to_pylist()], dtype=np.int64
    )
    names[:] = list(index)
    return mapping[encoded.indices.to_numpy(zero_copy_only=False)]


def one_per_step(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted by step, one value per step (the last logged)."""
    order = np.argsort(steps, kind="stable")
    s, v = steps[order], values[order]
    last = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, dtype=bool)
    return s[last], v[last]


def downsample(steps: np.ndarray, values: np.ndarray, points: int) -> np.ndarray:
    """Row numbers of at most ``points`` points keeping the line's shape (MinMaxLTTB)."""
    if len(steps) <= points:
        return np.arange(len(steps))
    from tsdownsample import MinMaxLTTBDownsampler, NaNMinMaxLTTBDownsampler

    sampler = NaNMinMaxLTTBDownsampler() if np.isnan(values).any() else MinMaxLTTBDownsampler()
    return np.asarray(sampler.downsample(steps, values, n_out=points), dtype=np.int64)


def points_per_series(series: int, budget: int = POINT_BUDGET) -> int:
    return int(min(MAX_POINTS, max(MIN_POINTS, budget // max(1, series))))


def scalar_charts(
    table: pa.Table, runs: list[str], points: int | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One chart per scalar tag (tags sorted), each run a series of at most ``points``
    points (default: :func:`points_per_series`); and what was done (``{"method", "points",
    "raw", "drawn"}``)."""
    tags: list[str] = []
    run_ids = _codes(table.column("run"), runs)
    tag_ids = _codes(table.column("tag"), tags)
    steps = table.column("step").to_numpy()
    values = table.column("value").to_numpy()
    groups = list(_groups(run_ids, tag_ids))
    points = points or points_per_series(len(groups))
    charts: dict[int, list[dict[str, Any]]] = {}
    drawn = 0
    for r, t, rows in groups:
        s, v = one_per_step(steps[rows], values[rows])
        keep = downsample(s, v, points)
        drawn += len(keep)
        charts.setdefault(t, []).append(
            {
                "run": r,
                "n": len(rows),
                **encode_steps(s[keep]),
                "y": b64(v[keep].astype("<f4")),
            }
        )
    out = [{"tag": tags[t], "series": charts[t]} for t in sorted(charts, key=lambda t: tags[t])]
    info = {"method": "MinMaxLTTB", "points": points, "raw": len(steps), "drawn": drawn}
    return out, info


def percentiles(left: np.ndarray, right: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The 9 distribution percentiles of one histogram (NaN when it is empty)."""
    total = float(count.sum()) if len(count) else 0.0
    if total <= 0:
        return np.full(len(BASIS_POINTS), np.nan)
    cumulative = np.concatenate([[0.0], np.cumsum(count)])
    edges = np.concatenate([[left[0]], right])
    return np.interp(BASIS_POINTS * total, cumulative, edges)


def histogram_charts(table: pa.Table, runs: list[str]) -> list[dict[str, Any]]:
    """One chart per histogram tag: per run, percentile bands at up to HISTOGRAM_STEPS steps."""
    if not table.num_rows:
        return []
    tags: list[str] = []
    run_ids = _codes(table.column("run"), runs)
    tag_ids = _codes(table.column("tag"), tags)
    steps = table.column("step").to_numpy()
    lefts, rights, counts = (
        table.column(c).combine_chunks() for c in ("bucket_left", "bucket_right", "bucket_count")
    )
    charts: dict[int, list[dict[str, Any]]] = {}
    for r, t, rows in _groups(run_ids, tag_ids):
        order = rows[np.argsort(steps[rows], kind="stable")]
        if len(order) > HISTOGRAM_STEPS:
            order = order[
                np.unique(np.linspace(0, len(order) - 1, HISTOGRAM_STEPS).round().astype(int))
            ]
        bands = np.array(
            [
                percentiles(
                    lefts[int(i)].values.to_numpy(),
                    rights[int(i)].values.to_numpy(),
                    counts[int(i)].values.to_numpy(),
                )
                for i in order
            ]
        )
        charts.setdefault(t, []).append(
            {"run": r, **encode_steps(steps[order]), "bands": b64(bands.astype("<f4").T)}
        )
    return [{"tag": tags[t], "series": charts[t]} for t in sorted(charts, key=lambda t: tags[t])]


def last_images(table: pa.Table) -> list[dict[str, Any]]:
    """Per image tag, the last image (highest step, last sample) of up to IMAGE_RUNS runs."""
    if not table.num_rows:
        return []
    frame = table.select(["run", "tag", "step", "sample", "format", "data"]).to_pandas()
    frame = frame.sort_values(["tag", "run", "step", "sample"], kind="stable")
    out = []
    for tag, rows in frame.groupby("tag", sort=True):
        last = rows.groupby("run", sort=True).tail(1)
        items = []
        for row in last.itertuples():
            mime = MIME.get(str(row.format))
            if mime is None or len(row.data) > IMAGE_BYTES:
                continue
            data = base64.b64encode(row.data).decode("ascii")
            items.append(
                {"run": row.run, "step": int(row.step), "src": f"data:{mime};base64,{data}"}
            )
        out.append(
            {"tag": tag, "items": items[:IMAGE_RUNS], "more": max(0, len(items) - IMAGE_RUNS)}
        )
    return out


def table_json(
    headers: list[str], cells: list[list[str]], values: list[list[Any]]
) -> dict[str, Any]:
    """A sortable table: text cells, and the values to sort by (numbers, strings or null)."""
    clean = [[_sortable(v) for v in row] for row in values]
    return {"headers": headers, "cells": cells, "values": clean}


def _sortable(value: Any) -> Any:
    if value is None or value is pa.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        x = float(value)
        return x if np.isfinite(x) else None
    text = str(value)
    return None if text in ("<NA>", "nan") else text
