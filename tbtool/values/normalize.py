"""Normalization: every writer's ``Summary.Value`` (and the non-summary events) -> typed values.

torch, tensorboardX, TF1, TF2 and Keras encode the same kind of data in different ways
(format.md §3): a scalar may be a ``simple_value``, a rank-0 DT_FLOAT tensor, a DT_DOUBLE or
DT_HALF one; a histogram a ``HistogramProto`` or a ``[k, 3]`` tensor. Classification follows
format.md §3.7: the oneof case first, then the plugin name (or data class) of the tag's
*first* metadata in the run (TF1's FileWriter strips metadata from later values, §3.6).
"""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import numpy as np
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError

from tbtool.format.summary_metadata import has_metadata
from tbtool.proto import (
    custom_scalar_layout_pb2,
    event_pb2,
    hparams_pb2,
    mesh_pb2,
    plugin_data_pb2,
    summary_pb2,
)
from tbtool.values.tensor import (
    TensorDecodeError,
    TensorTooLarge,
    decode_elements,
    decode_tensor,
    dtype_name,
    tensor_shape,
)
from tbtool.values.typed import (
    Audio,
    CustomScalars,
    FileVersion,
    Graph,
    Histogram,
    HParams,
    Image,
    LogMessage,
    Mesh,
    PrCurve,
    RunMetadata,
    Scalar,
    SessionLog,
    Tensor,
    Text,
    Value,
)

DATA_CLASS_SCALAR = 1

#: Tag TensorBoard gives a run's ``graph_def`` (format.md §3.2); we use it for graph events.
RUN_GRAPH_TAG = "__run_graph__"
META_GRAPH_TAG = "__meta_graph__"


def enum_name(enum_type: Any, number: int) -> str:
    """The enum value's name, or its number for values this schema does not know."""
    try:
        return enum_type.Name(number)
    except ValueError:
        return str(number)


def _as_dict(message: Any) -> dict[str, Any]:
    """The message as JSON-ready data, keys sorted: protobuf map order (hparams values)
    changes from one process to the next, and dump output must not."""
    return _sorted_keys(MessageToDict(message, preserving_proto_field_name=True))


def _sorted_keys(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: _sorted_keys(data[key]) for key in sorted(data)}
    if isinstance(data, list):
        return [_sorted_keys(item) for item in data]
    return data


def decode_strings(array: np.ndarray) -> np.ndarray:
    """Text of each element of a string tensor: UTF-8, invalid bytes replaced."""
    out = np.empty(array.shape, dtype=object)
    flat_in, flat_out = array.reshape(-1), out.reshape(-1)
    for i, s in enumerate(flat_in):
        flat_out[i] = s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s)
    return out


def _wav_header(data: bytes) -> tuple[int | None, float | None]:
    """(channels, sample rate) from a canonical WAV header, else (None, None)."""
    if len(data) >= 28 and data.startswith(b"RIFF") and data[8:16] == b"WAVEfmt ":
        channels, rate = struct.unpack_from("<HI", data, 22)
        return channels, float(rate)
    return None, None


# -- per-kind decoders of tensor values ------------------------------------------------------
def scalar_from_tensor(tensor: Any) -> Scalar:
    """A one-element numeric tensor of any dtype and rank (format.md §3.7 rule 1)."""
    array, quirk = decode_elements(tensor)
    if array.size != 1:
        raise TensorDecodeError(f"a scalar needs 1 element, this tensor has {array.size}")
    if array.dtype == object or np.iscomplexobj(array):
        raise TensorDecodeError(f"a {dtype_name(tensor.dtype)} tensor is not a scalar")
    dtype = dtype_name(tensor.dtype) + ("(torch float32 bits)" if quirk else "")
    return Scalar(float(array.reshape(-1)[0]), dtype)


def histogram_from_proto(h: Any) -> Histogram:
    """Rows as TensorBoard's Python loader shows a HistogramProto: empty edge buckets dropped,
    outer edges ``min``/``max`` (format.md §3.2)."""
    limits = np.asarray(h.bucket_limit, dtype=np.float64)
    counts = np.asarray(h.bucket, dtype=np.float64)
    if len(limits) != len(counts):
        raise TensorDecodeError(
            f"histogram has {len(limits)} bucket limits but {len(counts)} bucket counts"
        )
    nonzero = np.flatnonzero(counts)
    if nonzero.size:
        start, end = int(nonzero[0]), int(nonzero[-1])
        left = np.concatenate([[h.min], limits[start:end]])
        right = np.concatenate([limits[start:end], [h.max]])
        count = counts[start : end + 1]
    else:
        left = right = count = np.zeros(0)
    return Histogram(
        left,
        right,
        count,
        min=h.min,
        max=h.max,
        num=h.num,
        sum=h.sum,
        sum_squares=h.sum_squares,
        bucket_limit=limits,
        bucket=counts,
    )


def _numbers(array: np.ndarray, what: str) -> np.ndarray:
    """``array`` as float64; strings that are no numbers (a string tensor under a numeric
    plugin) are a :class:`TensorDecodeError`, not a crash."""
    try:
        return array.astype(np.float64)
    except (ValueError, TypeError) as e:
        raise TensorDecodeError(f"{what} tensor of values that are not numbers: {e}") from None


def histogram_from_tensor(tensor: Any) -> Histogram:
    array, _ = decode_tensor(tensor)
    if array.size == 0:
        empty = np.zeros(0)
        return Histogram(empty, empty, empty)
    if array.ndim != 2 or array.shape[1] != 3:
        raise TensorDecodeError(f"a histogram tensor must be [k, 3], not {list(array.shape)}")
    rows = _numbers(array, "a histogram")
    return Histogram(rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy())


def _strings(tensor: Any) -> np.ndarray:
    array, _ = decode_tensor(tensor)
    if array.dtype != object:
        raise TensorDecodeError(f"expected a string tensor, got {dtype_name(tensor.dtype)}")
    return array


def image_from_tensor(tensor: Any) -> Image:
    flat = _strings(tensor).reshape(-1)
    if flat.size < 2:
        raise TensorDecodeError("an image tensor needs [width, height, images...]")
    try:
        width, height = int(flat[0]), int(flat[1])
    except ValueError as e:
        raise TensorDecodeError(f"image width/height are not numbers: {e}") from None
    return Image(tuple(bytes(b) for b in flat[2:]), width=width, height=height)


def audio_from_tensor(tensor: Any) -> Audio:
    array = _strings(tensor)
    if array.ndim == 2 and array.shape[1] >= 1:
        clips = tuple(bytes(b) for b in array[:, 0])
        labels = tuple(
            b.decode("utf-8", "replace") for b in (array[:, 1] if array.shape[1] > 1 else ())
        )
    else:
        clips, labels = tuple(bytes(b) for b in array.reshape(-1)), ()
    channels, rate = _wav_header(clips[0]) if clips else (None, None)
    return Audio(clips, labels, sample_rate=rate, num_channels=channels)


def pr_curve_from_tensor(tensor: Any, content: bytes) -> PrCurve:
    array, _ = decode_tensor(tensor)
    if array.ndim != 2 or array.shape[0] != 6:
        raise TensorDecodeError(f"a pr_curve tensor must be [6, T], not {list(array.shape)}")
    num_thresholds = array.shape[1]
    with contextlib.suppress(DecodeError):
        num_thresholds = plugin_data_pb2.PrCurvePluginData.FromString(content).num_thresholds
    return PrCurve(_numbers(array, "a PR curve"), int(num_thresholds or array.shape[1]))


def hparams_from_content(content: bytes) -> HParams:
    try:
        data = hparams_pb2.HParamsPluginData.FromString(content)
    except DecodeError as e:
        raise TensorDecodeError(f"hparams plugin content does not parse: {e}") from None
    part = data.WhichOneof("data")
    if part is None:
        raise TensorDecodeError("hparams plugin content holds no experiment or session info")
    message = getattr(data, part)
    return HParams(part, message, _as_dict(message))


def custom_scalars_from_tensor(tensor: Any) -> CustomScalars:
    flat = _strings(tensor).reshape(-1)
    if flat.size != 1:
        raise TensorDecodeError("a custom_scalars layout must be one string")
    try:
        layout = custom_scalar_layout_pb2.Layout.FromString(bytes(flat[0]))
    except DecodeError as e:
        raise TensorDecodeError(f"custom_scalars layout does not parse: {e}") from None
    return CustomScalars(layout, _as_dict(layout))


def mesh_from_tensor(tensor: Any, content: bytes, tag: str) -> Mesh:
    try:
        meta = mesh_pb2.MeshPluginData.FromString(content)
    except DecodeError:
        meta = mesh_pb2.MeshPluginData()
    array, _ = decode_tensor(tensor)
    content_type = enum_name(mesh_pb2.MeshPluginData.ContentType, meta.content_type)
    return Mesh(array, meta.name or tag, content_type, meta.json_config, meta.components)


def _single_blob(tensor: Any) -> bytes:
    flat = _strings(tensor).reshape(-1)
    if flat.size != 1:
        raise TensorDecodeError(f"expected one serialized blob, found {flat.size}")
    return bytes(flat[0])


def _undecodable(tensor: Any, plugin_name: str, error: Exception) -> Tensor:
    return Tensor(
        None,
        dtype_name(tensor.dtype),
        tensor_shape(tensor),
        plugin_name,
        str(error),
        too_large=isinstance(error, TensorTooLarge),
    )


def tensor_value(tensor: Any, plugin_name: str) -> Tensor:
    try:
        array, quirk = decode_tensor(tensor)
    except TensorDecodeError as e:
        return _undecodable(tensor, plugin_name, e)
    return Tensor(
        array, dtype_name(tensor.dtype), tuple(array.shape), plugin_name, torch_half_quirk=quirk
    )


# -- the normalizer ---------------------------------------------------------------------------
class Normalizer:
    """Turns the values of one run into typed values; remembers each tag's first metadata.

    Use one instance per run, fed in read order (metadata is per (run, tag), format.md §3.1).
    """

    def __init__(self) -> None:
        self._metadata: dict[str, Any] = {}

    def metadata(self, tag: str, value: Any) -> Any | None:
        """The tag's first non-empty metadata in this run (recording this value's if first)."""
        stored = self._metadata.get(tag)
        if stored is None and has_metadata(value):
            stored = summary_pb2.SummaryMetadata()
            stored.CopyFrom(value.metadata)
            self._metadata[tag] = stored
        return stored

    def remember(self, tag: str, metadata: Any) -> None:
        """Record ``metadata`` as the tag's first, unless one is known (batch readers see a
        tag's first metadata before they decode its values one by one)."""
        self._metadata.setdefault(tag, metadata)

    def summary_value(self, value: Any) -> tuple[str, str, Value] | None:
        """``(tag, plugin_name, typed value)``, or ``None`` for a value that holds nothing
        (e.g. torch's ``add_video`` when moviepy is missing, format.md §4.4)."""
        tag = value.tag or value.node_name
        metadata = self.metadata(tag, value)
        plugin = metadata.plugin_data.plugin_name if metadata is not None else ""
        content = metadata.plugin_data.content if metadata is not None else b""
        case = value.WhichOneof("value")
        if case == "simple_value":
            return tag, plugin, Scalar(float(value.simple_value), "float32")
        if case == "histo":
            try:
                return tag, plugin, histogram_from_proto(value.histo)
            except TensorDecodeError as e:
                return tag, plugin, Tensor(None, "histo", None, plugin, str(e))
        if case == "image":
            img = value.image
            typed: Value = Image(
                (img.encoded_image_string,),
                width=img.width,
                height=img.height,
                colorspace=img.colorspace,
            )
            return tag, plugin, typed
        if case == "audio":
            a = value.audio
            typed = Audio(
                (a.encoded_audio_string,),
                sample_rate=a.sample_rate,
                num_channels=a.num_channels,
                length_frames=a.length_frames,
                content_type=a.content_type,
            )
            return tag, plugin, typed
        if case == "tensor":
            return tag, plugin, self._tensor(value.tensor, tag, plugin, content, metadata)
        if case is None and plugin == "hparams":
            try:
                return tag, plugin, hparams_from_content(content)
            except TensorDecodeError as e:
                return tag, plugin, Tensor(None, "none", None, plugin, str(e))
        if case == "obsolete_old_style_histogram":
            error = "obsolete old-style histogram (no reader supports it)"
            return tag, plugin, Tensor(None, "bytes", None, plugin, error)
        return None

    def _tensor(self, tensor: Any, tag: str, plugin: str, content: bytes, metadata: Any) -> Value:
        data_class = metadata.data_class if metadata is not None else 0
        try:
            if plugin == "scalars" or data_class == DATA_CLASS_SCALAR:
                return scalar_from_tensor(tensor)
            if plugin == "histograms":
                return histogram_from_tensor(tensor)
            if plugin == "images":
                return image_from_tensor(tensor)
            if plugin == "audio":
                return audio_from_tensor(tensor)
            if plugin == "text":
                return Text(decode_strings(_strings(tensor)))
            if plugin == "pr_curves":
                return pr_curve_from_tensor(tensor, content)
            if plugin == "hparams":
                return hparams_from_content(content)
            if plugin == "custom_scalars":
                return custom_scalars_from_tensor(tensor)
            if plugin == "mesh":
                return mesh_from_tensor(tensor, content, tag)
            if plugin == "graphs":
                return Graph(_single_blob(tensor), "graph_def")
            if plugin == "graph_keras_model":
                return Graph(_single_blob(tensor), "keras_model")
            if plugin in ("graph_run_metadata", "graph_run_metadata_graph"):
                return RunMetadata(_single_blob(tensor), plugin)
        except TensorDecodeError as e:
            return _undecodable(tensor, plugin, e)
        return tensor_value(tensor, plugin)


def event_values(event: Any, normalizer: Normalizer) -> list[tuple[str, str, Value]]:
    """``(tag, plugin_name, value)`` for everything an Event carries, in order."""
    case = event.WhichOneof("what")
    if case == "summary":
        out = []
        for value in event.summary.value:
            item = normalizer.summary_value(value)
            if item is not None:
                out.append(item)
        return out
    if case == "file_version":
        writer = event.source_metadata.writer if event.HasField("source_metadata") else ""
        return [("", "", FileVersion(event.file_version, writer))]
    if case == "session_log":
        log = event.session_log
        status = enum_name(event_pb2.SessionLog.SessionStatus, log.status)
        return [("", "", SessionLog(status, log.checkpoint_path, log.msg))]
    if case == "graph_def":
        return [(RUN_GRAPH_TAG, "", Graph(event.graph_def, "graph_def"))]
    if case == "meta_graph_def":
        return [(META_GRAPH_TAG, "", Graph(event.meta_graph_def, "meta_graph_def"))]
    if case == "tagged_run_metadata":
        trm = event.tagged_run_metadata
        return [(trm.tag, "", RunMetadata(trm.run_metadata))]
    if case == "log_message":
        msg = event.log_message
        level = enum_name(event_pb2.LogMessage.Level, msg.level)
        return [("", "", LogMessage(level, msg.message))]
    return []
