"""Precision-recall curves: torch's bucketing, a float32 ``[6, T]`` tensor, plugin
``pr_curves`` (format.md §2.7, §4.4). ``num_thresholds`` is capped at 127 as in torch."""

from __future__ import annotations

from typing import Any

import numpy as np

from tbtool.proto import plugin_data_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tbtool.writer.convert import check_finite, to_real_array

MAX_THRESHOLDS = 127
_MINIMUM_COUNT = 1e-7
DT_FLOAT = 1


def _thresholds(num_thresholds: Any) -> int:
    if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)):
        raise TypeError(f"num_thresholds must be an int, not {type(num_thresholds).__name__}")
    if num_thresholds < 2:
        raise ValueError(f"num_thresholds must be at least 2, got {num_thresholds}")
    return min(int(num_thresholds), MAX_THRESHOLDS)


def compute_curve(
    labels: np.ndarray, predictions: np.ndarray, num_thresholds: int, weights: Any = None
) -> np.ndarray:
    """torch's ``compute_curve``: rows TP, FP, TN, FN, precision, recall (float64)."""
    if weights is None:
        weights = 1.0
    bucket_indices = np.int32(np.floor(predictions * (num_thresholds - 1)))
    float_labels = labels.astype(np.float64)
    histogram_range = (0, num_thresholds - 1)
    tp_buckets, _ = np.histogram(
        bucket_indices, bins=num_thresholds, range=histogram_range, weights=float_labels * weights
    )
    fp_buckets, _ = np.histogram(
        bucket_indices,
        bins=num_thresholds,
        range=histogram_range,
        weights=(1.0 - float_labels) * weights,
    )
    tp = np.cumsum(tp_buckets[::-1])[::-1]
    fp = np.cumsum(fp_buckets[::-1])[::-1]
    tn = fp[0] - fp
    fn = tp[0] - tp
    precision = tp / np.maximum(_MINIMUM_COUNT, tp + fp)
    recall = tp / np.maximum(_MINIMUM_COUNT, tp + fn)
    return np.stack((tp, fp, tn, fn, precision, recall))


def pr_value(tag: str, data: np.ndarray, num_thresholds: int) -> bytes:
    """The serialized ``Summary.Value`` of a ``[6, T]`` curve."""
    content = plugin_data_pb2.PrCurvePluginData(version=0, num_thresholds=num_thresholds)
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name="pr_curves", content=content.SerializeToString()
        )
    )
    tensor = tensor_pb2.TensorProto(
        dtype=DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in data.shape]
        ),
    )
    tensor.float_val.extend(data.astype(np.float32).reshape(-1).tolist())
    value = summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)
    return value.SerializeToString()


def pr_curve_value(
    tag: str, labels: Any, predictions: Any, num_thresholds: Any, weights: Any
) -> bytes:
    """``add_pr_curve``: labels in [0, 1] (usually 0/1), predictions in [0, 1]."""
    thresholds = _thresholds(num_thresholds)
    labels_array = to_real_array(labels, "labels")
    # Kept in its own dtype: torch multiplies float32 predictions in float32, and the bucket
    # a prediction falls into must not change.
    predictions_array = to_real_array(predictions, "predictions")
    if labels_array.shape != predictions_array.shape:
        raise ValueError(
            f"labels {labels_array.shape} and predictions {predictions_array.shape} must have "
            "the same shape"
        )
    if not labels_array.size:
        raise ValueError("labels and predictions are empty")
    check_finite(labels_array, "labels")
    check_finite(predictions_array, "predictions")
    if labels_array.min() < 0 or labels_array.max() > 1:
        raise ValueError("labels must be in [0, 1] (true = 1, false = 0)")
    if predictions_array.min() < 0 or predictions_array.max() > 1:
        raise ValueError("predictions must be probabilities in [0, 1]")
    if weights is not None:
        weights = to_real_array(weights, "weights").astype(np.float64)
        if weights.shape not in ((), labels_array.shape):
            raise ValueError(
                f"weights must be a number or have the shape of labels {labels_array.shape}, "
                f"got {weights.shape}"
            )
        check_finite(weights, "weights")
    data = compute_curve(labels_array, predictions_array, thresholds, weights)
    return pr_value(tag, data, thresholds)


def pr_curve_raw_value(tag: str, arrays: dict[str, Any], num_thresholds: Any) -> bytes:
    """``add_pr_curve_raw``: the six given rows stacked (all of one length)."""
    thresholds = _thresholds(num_thresholds)
    rows = []
    for name, value in arrays.items():
        row = to_real_array(value, name).astype(np.float64)
        if row.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {row.shape}")
        check_finite(row, name)
        rows.append(row)
    lengths = {len(r) for r in rows}
    if len(lengths) != 1:
        sizes = ", ".join(f"{n}={len(r)}" for n, r in zip(arrays, rows, strict=True))
        raise ValueError(f"the six pr-curve arrays must have the same length ({sizes})")
    if not rows[0].size:
        raise ValueError("the pr-curve arrays are empty")
    return pr_value(tag, np.stack(rows), thresholds)
