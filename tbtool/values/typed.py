"""Typed values: one class per kind of thing a run logs, whichever writer encoded it.

These are what readers hand out after normalization (format.md §3.7), and what every sink
(dump, ls, exports) consumes, so a fix in how a kind is read lands once. Each class can say
itself briefly (``brief()``, for text output) and as JSON (``to_json()``, for ``--format
jsonl``); JSON floats that are not finite become the strings "NaN", "Infinity", "-Infinity"
(the protobuf JSON convention), so every line is strict JSON.

One idea, kept whole: the catalogue of value classes. Each is small and shaped like the
others (fields, ``brief()``, ``to_json()``); side by side they show what the kinds share and
where they differ, which a module per kind would scatter.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

#: Summary kinds, then the kinds of non-summary events (contract.md "kind").
SUMMARY_KINDS = (
    "scalar",
    "histogram",
    "image",
    "audio",
    "text",
    "tensor",
    "pr_curve",
    "hparams",
    "custom_scalars",
    "mesh",
    "graph",
    "run_metadata",
)
EVENT_KINDS = ("session_log", "file_version", "log_message")
KINDS = SUMMARY_KINDS + EVENT_KINDS

#: Largest tensor whose elements ``to_json`` lists in full.
JSON_ELEMENT_LIMIT = 64


def json_float(x: float) -> float | str:
    """A float for strict JSON: non-finite values as protobuf's JSON strings."""
    x = float(x)
    if math.isfinite(x):
        return x
    if math.isnan(x):
        return "NaN"
    return "Infinity" if x > 0 else "-Infinity"


def float32_repr(x: float) -> str:
    """The shortest text that reads back as the same float32, in ``repr``'s layout (``0.2``
    for the float32 nearest 0.2, where ``repr`` of the float64 gives
    ``0.20000000298023224``)."""
    return repr(float(str(np.float32(x))))


def json_array(array: np.ndarray) -> Any:
    """Nested lists of JSON-safe elements."""
    if array.dtype == object:
        return _map_nested(array.tolist(), _json_scalar)
    if np.issubdtype(array.dtype, np.floating):
        return _map_nested(array.tolist(), json_float)
    if np.issubdtype(array.dtype, np.complexfloating):
        return _map_nested(array.tolist(), lambda c: [json_float(c.real), json_float(c.imag)])
    return array.tolist()


def _json_scalar(x: Any) -> Any:
    if isinstance(x, bytes):
        try:
            return x.decode("utf-8")
        except UnicodeDecodeError:
            return {"bytes": len(x)}
    return x


def _map_nested(x: Any, convert: Any) -> Any:
    if isinstance(x, list):
        return [_map_nested(sub, convert) for sub in x]
    return convert(x)


def sniff_format(data: bytes) -> str:
    """Name an encoded image/audio blob by its magic bytes."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return "wav"
    if data.startswith(b"BM"):
        return "bmp"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"fLaC"):
        return "flac"
    if data.startswith(b"OggS"):
        return "ogg"
    return "unknown"


def _short(array: np.ndarray) -> str:
    return f"{array.dtype}{list(array.shape)}"


@dataclass(frozen=True, slots=True)
class Scalar:
    """One number. ``dtype`` is what the writer stored (simple_value is float32); float32
    values print at float32's shortest digits."""

    kind: ClassVar[str] = "scalar"
    value: float
    dtype: str = "float32"

    def brief(self) -> str:
        return float32_repr(self.value) if self.dtype == "float32" else repr(self.value)

    def to_json(self) -> Any:
        if self.dtype == "float32" and math.isfinite(self.value):
            return float(str(np.float32(self.value)))  # prints as float32_repr does
        return json_float(self.value)


@dataclass(frozen=True, slots=True, eq=False)
class Histogram:
    """Buckets as (left, right, count) rows, as TensorBoard displays them.

    From a ``HistogramProto`` (``histo``), empty buckets at both ends are dropped and the outer
    edges are ``min`` and ``max`` (TensorBoard's Python convention, format.md §3.2); the raw
    ``bucket_limit``/``bucket`` arrays and ``min, max, num, sum, sum_squares`` are kept. From a
    ``[k, 3]`` tensor (TF2), the rows are taken as written and the statistics are ``None``.
    """

    kind: ClassVar[str] = "histogram"
    left: np.ndarray
    right: np.ndarray
    count: np.ndarray
    min: float | None = None
    max: float | None = None
    num: float | None = None
    sum: float | None = None
    sum_squares: float | None = None
    bucket_limit: np.ndarray | None = None
    bucket: np.ndarray | None = None

    @property
    def rows(self) -> np.ndarray:
        """``[k, 3]`` float64 array of (left, right, count)."""
        return np.stack([self.left, self.right, self.count], axis=1)

    @property
    def total(self) -> float:
        """Sum of the counts (``num`` for a consistent HistogramProto)."""
        return float(self.count.sum())

    def brief(self) -> str:
        if not len(self.count):
            return "histogram, 0 buckets"
        return (
            f"histogram, {len(self.count)} buckets, count {self.total:g}, "
            f"range [{self.left[0]:g}, {self.right[-1]:g}]"
        )

    def to_json(self) -> Any:
        return json_array(self.rows)


@dataclass(frozen=True, slots=True, eq=False)
class Image:
    """Encoded images (PNG, GIF for videos, ...). TF2 writes several per value and stores the
    size once; legacy ``Summary.Image`` holds one with its colorspace."""

    kind: ClassVar[str] = "image"
    images: tuple[bytes, ...]
    width: int | None = None
    height: int | None = None
    colorspace: int | None = None

    @property
    def format(self) -> str:
        return sniff_format(self.images[0]) if self.images else "none"

    def brief(self) -> str:
        size = f"{self.width}x{self.height}" if self.width is not None else "?x?"
        nbytes = sum(len(i) for i in self.images)
        return f"{len(self.images)} {self.format} image(s) {size}, {nbytes} bytes"

    def to_json(self) -> Any:
        return {
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "colorspace": self.colorspace,
            "images": len(self.images),
            "bytes": [len(i) for i in self.images],
        }


@dataclass(frozen=True, slots=True, eq=False)
class Audio:
    """Encoded audio clips (WAV). Legacy ``Summary.Audio`` keeps rate and length; TF2 keeps
    labels and leaves the rate to the WAV header."""

    kind: ClassVar[str] = "audio"
    clips: tuple[bytes, ...]
    labels: tuple[str, ...] = ()
    sample_rate: float | None = None
    num_channels: int | None = None
    length_frames: int | None = None
    content_type: str | None = None

    @property
    def format(self) -> str:
        return sniff_format(self.clips[0]) if self.clips else "none"

    def brief(self) -> str:
        rate = f" {self.sample_rate:g} Hz" if self.sample_rate else ""
        nbytes = sum(len(c) for c in self.clips)
        return f"{len(self.clips)} {self.format} clip(s){rate}, {nbytes} bytes"

    def to_json(self) -> Any:
        return {
            "format": self.format,
            "content_type": self.content_type,
            "sample_rate": self.sample_rate,
            "num_channels": self.num_channels,
            "length_frames": self.length_frames,
            "clips": len(self.clips),
            "bytes": [len(c) for c in self.clips],
            "labels": list(self.labels),
        }


@dataclass(frozen=True, slots=True, eq=False)
class Text:
    """UTF-8 text of any shape (rank 0 most often; 2-D tables render as tables in TB)."""

    kind: ClassVar[str] = "text"
    array: np.ndarray  # object array of str

    @property
    def strings(self) -> list[str]:
        return [str(s) for s in self.array.reshape(-1)]

    def brief(self) -> str:
        text = str(self.array[()]) if self.array.ndim == 0 else " | ".join(self.strings)
        return repr(text if len(text) <= 200 else text[:197] + "...")

    def to_json(self) -> Any:
        return json_array(self.array)

    def cell(self) -> str:
        """One string for a table: the string itself, or JSON of a table or list."""
        if self.array.size == 1:
            return str(self.array.reshape(-1)[0])
        return json.dumps(self.array.tolist(), ensure_ascii=False)


@dataclass(frozen=True, slots=True, eq=False)
class Tensor:
    """A tensor no other kind claims (torch ``add_tensor``, unknown plugins). ``array`` is
    ``None`` when it cannot be decoded; ``error`` then says why, and ``too_large`` whether
    the reason is the decode limit (:mod:`tbtool.values.limits`) rather than damage."""

    kind: ClassVar[str] = "tensor"
    array: np.ndarray | None
    dtype: str
    shape: tuple[int, ...] | None
    plugin_name: str = ""
    error: str | None = None
    torch_half_quirk: bool = False
    too_large: bool = False

    def brief(self) -> str:
        if self.array is None:
            return f"tensor {self.dtype} (undecodable: {self.error})"
        if self.array.size <= 8:
            return f"tensor {_short(self.array)} {json_array(self.array)}"
        return f"tensor {_short(self.array)}"

    def to_json(self) -> Any:
        out: dict[str, Any] = {
            "dtype": self.dtype,
            "shape": list(self.shape) if self.shape is not None else None,
        }
        if self.array is None:
            out["error"] = self.error
            return out
        out["bytes"] = int(self.array.nbytes) if self.array.dtype != object else None
        if self.array.size <= JSON_ELEMENT_LIMIT:
            out["values"] = json_array(self.array)
        return out


PR_ROWS = ("true_positives", "false_positives", "true_negatives", "false_negatives")


@dataclass(frozen=True, slots=True, eq=False)
class PrCurve:
    """Precision-recall curve: a ``[6, T]`` array (TP, FP, TN, FN, precision, recall)."""

    kind: ClassVar[str] = "pr_curve"
    data: np.ndarray
    num_thresholds: int

    @property
    def thresholds(self) -> np.ndarray:
        t = self.data.shape[1]
        return np.linspace(0.0, 1.0, t) if t > 1 else np.zeros(t)

    @property
    def precision(self) -> np.ndarray:
        return self.data[4]

    @property
    def recall(self) -> np.ndarray:
        return self.data[5]

    def brief(self) -> str:
        return f"pr_curve, {self.data.shape[1]} thresholds"

    def to_json(self) -> Any:
        out: dict[str, Any] = {"num_thresholds": self.num_thresholds}
        for i, name in enumerate((*PR_ROWS, "precision", "recall")):
            out[name] = json_array(self.data[i])
        return out


@dataclass(frozen=True, slots=True, eq=False)
class HParams:
    """One of the hparams plugin's three records: ``experiment``, ``session_start_info`` or
    ``session_end_info``; ``message`` is the parsed protobuf and ``data`` its JSON form."""

    kind: ClassVar[str] = "hparams"
    part: str
    message: Any
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def hparams(self) -> dict[str, Any]:
        """Hyperparameter values of a session start (name -> float, bool or str)."""
        return dict(self.data.get("hparams", {})) if self.part == "session_start_info" else {}

    def brief(self) -> str:
        if self.part == "session_start_info":
            return f"hparams session start {self.hparams}"
        if self.part == "session_end_info":
            return f"hparams session end {self.data.get('status', 'STATUS_UNKNOWN')}"
        metrics = [m.get("name", {}).get("tag", "") for m in self.data.get("metric_infos", [])]
        names = [h.get("name", "") for h in self.data.get("hparam_infos", [])]
        return f"hparams experiment: hparams {names}, metrics {metrics}"

    def to_json(self) -> Any:
        return {"part": self.part, **self.data}


@dataclass(frozen=True, slots=True, eq=False)
class CustomScalars:
    """A custom-scalars dashboard layout (``Layout`` protobuf and its JSON form)."""

    kind: ClassVar[str] = "custom_scalars"
    layout: Any
    data: dict[str, Any] = field(default_factory=dict)

    def brief(self) -> str:
        titles = [c.get("title", "") for c in self.data.get("category", [])]
        return f"custom_scalars layout, categories {titles}"

    def to_json(self) -> Any:
        return self.data


@dataclass(frozen=True, slots=True, eq=False)
class Mesh:
    """One component (VERTEX, FACE or COLOR) of a 3-D mesh, ``[B, N, 3]``."""

    kind: ClassVar[str] = "mesh"
    array: np.ndarray | None
    name: str
    content_type: str
    json_config: str = ""
    components: int = 0

    def brief(self) -> str:
        shape = _short(self.array) if self.array is not None else "?"
        return f"mesh {self.name} {self.content_type} {shape}"

    def to_json(self) -> Any:
        return {
            "name": self.name,
            "content_type": self.content_type,
            "dtype": str(self.array.dtype) if self.array is not None else None,
            "shape": list(self.array.shape) if self.array is not None else None,
            "json_config": self.json_config,
            "components": self.components,
        }


@dataclass(frozen=True, slots=True, eq=False)
class Graph:
    """A model graph: ``graph_def`` / ``meta_graph_def`` event bytes, or a Keras model config
    (JSON) from the ``graph_keras_model`` plugin."""

    kind: ClassVar[str] = "graph"
    data: bytes
    format: str  # "graph_def", "meta_graph_def" or "keras_model"

    def brief(self) -> str:
        return f"{self.format}, {len(self.data)} bytes"

    def to_json(self) -> Any:
        return {"format": self.format, "bytes": len(self.data)}


@dataclass(frozen=True, slots=True, eq=False)
class RunMetadata:
    """Serialized ``RunMetadata`` (profiling / step stats; TF2 traces carry a graph in it)."""

    kind: ClassVar[str] = "run_metadata"
    data: bytes
    source: str = "tagged_run_metadata"  # or the graph plugin that carried it

    def brief(self) -> str:
        return f"run_metadata ({self.source}), {len(self.data)} bytes"

    def to_json(self) -> Any:
        return {"source": self.source, "bytes": len(self.data)}


@dataclass(frozen=True, slots=True)
class SessionLog:
    """A session status event (START marks a restart: purge semantics, contract.md)."""

    kind: ClassVar[str] = "session_log"
    status: str  # "START", "STOP", "CHECKPOINT", "STATUS_UNSPECIFIED"
    checkpoint_path: str = ""
    msg: str = ""

    def brief(self) -> str:
        extra = f" {self.checkpoint_path}" if self.checkpoint_path else ""
        return f"session_log {self.status}{extra}{' ' + self.msg if self.msg else ''}"

    def to_json(self) -> Any:
        return {"status": self.status, "checkpoint_path": self.checkpoint_path, "msg": self.msg}


@dataclass(frozen=True, slots=True)
class FileVersion:
    """The first event of a file: format version and, from newer writers, the writer's name."""

    kind: ClassVar[str] = "file_version"
    version: str
    writer: str = ""

    def brief(self) -> str:
        return self.version + (f" ({self.writer})" if self.writer else "")

    def to_json(self) -> Any:
        return {"file_version": self.version, "writer": self.writer}


@dataclass(frozen=True, slots=True)
class LogMessage:
    """A deprecated ``LogMessage`` event."""

    kind: ClassVar[str] = "log_message"
    level: str
    message: str

    def brief(self) -> str:
        return f"{self.level}: {self.message}"

    def to_json(self) -> Any:
        return {"level": self.level, "message": self.message}


Value = (
    Scalar
    | Histogram
    | Image
    | Audio
    | Text
    | Tensor
    | PrCurve
    | HParams
    | CustomScalars
    | Mesh
    | Graph
    | RunMetadata
    | SessionLog
    | FileVersion
    | LogMessage
)


@dataclass(frozen=True, slots=True)
class LoggedValue:
    """A typed value with where and when it was logged.

    ``offset``/``index`` locate the record in ``file``; ``plugin_name`` is the plugin of the
    tag's first metadata in its run (empty for legacy values without metadata).
    """

    run: str
    file: str
    offset: int
    index: int
    wall_time: float
    step: int
    tag: str
    value: Value
    plugin_name: str = ""

    @property
    def kind(self) -> str:
        return self.value.kind

    def to_json(self) -> dict[str, Any]:
        """The ``dump --format jsonl`` object (contract.md); non-summary events also carry
        their own field (``file_version``, ``session_log``, ``log_message``)."""
        out: dict[str, Any] = {
            "run": self.run,
            "file": self.file,
            "offset": self.offset,
            "index": self.index,
            "wall_time": json_float(self.wall_time),
            "step": self.step,
            "tag": self.tag,
            "kind": self.kind,
            "plugin_name": self.plugin_name,
            "value": self.value.to_json(),
        }
        if isinstance(self.value, FileVersion):
            out["file_version"] = self.value.version
        elif self.kind in EVENT_KINDS:
            out[self.kind] = out["value"]
        return out
