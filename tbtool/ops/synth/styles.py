"""How each writer encodes what ``tbtool synth`` logs: torch, tensorboardX and TF2 styles.

torch and tensorboardX values come from tbtool's own writer encoders (``tbtool.writer``: the
bytes torch's ``SummaryWriter`` writes, format.md §3.4-3.5), with tensorboardX's few
differences applied. TF2 writes tensors everywhere (format.md §3.6: DT_FLOAT rank-0 scalars,
``[k, 3]`` float64 histograms, ``[w, h, png...]`` image strings, ``[n, 2]`` audio, rank-0
text), which tbtool's writer does not produce, so those encodings are built here.

Everything is deterministic: no clock, hostname or pid enters a file, and messages holding a
protobuf ``map`` are serialized with sorted keys (the default order varies between processes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from tbtool.proto import (
    graph_pb2,
    hparams_pb2,
    plugin_data_pb2,
    run_metadata_pb2,
    summary_pb2,
    tensor_pb2,
    tensor_shape_pb2,
    versions_pb2,
)
from tbtool.writer import wire
from tbtool.writer.audio import audio_value, encode_wav
from tbtool.writer.custom_scalars import custom_scalars_value
from tbtool.writer.event_file import FILE_VERSION
from tbtool.writer.graph import PRODUCER, node_proto
from tbtool.writer.histogram import histo_value, histogram_proto_bytes, histogram_value
from tbtool.writer.hparams import hparams_values
from tbtool.writer.image import encode_png, image_value, to_uint8
from tbtool.writer.mesh import MeshPluginData, mesh_values
from tbtool.writer.pr_curve import compute_curve, pr_curve_value
from tbtool.writer.scalar import simple_value_prefix
from tbtool.writer.tensor import tensor_value
from tbtool.writer.text import text_value

HOST = "synth"
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_STRING = 1, 2, 3, 4, 7
ALL_KINDS = (
    "scalars",
    "histograms",
    "images",
    "audio",
    "text",
    "pr_curves",
    "hparams",
    "custom_scalars",
    "mesh",
    "tensors",
    "graph",
)


def _shape(dims: Sequence[int]) -> Any:
    return tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(d)) for d in dims]
    )


def _metadata(plugin: str, content: bytes = b"") -> Any:
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin, content=content)
    )


def _deterministic(value: bytes) -> bytes:
    """An hparams ``Summary.Value`` re-serialized with its ``map`` entries sorted."""
    parsed = summary_pb2.Summary.Value.FromString(value)
    content = hparams_pb2.HParamsPluginData.FromString(parsed.metadata.plugin_data.content)
    parsed.metadata.plugin_data.content = content.SerializeToString(deterministic=True)
    return parsed.SerializeToString(deterministic=True)


def model_graph() -> tuple[bytes, bytes]:
    """(GraphDef, RunMetadata) bytes of a two-layer perceptron, in torch's node layout."""
    nodes = [
        node_proto("input/x", "IO Node", [], [64, 784]),
        node_proto("MLP/Linear[fc1]/weight", "prim::GetAttr", [], None),
        node_proto("MLP/Linear[fc1]/out", "aten::linear", ["input/x", "MLP/Linear[fc1]/weight"]),
        node_proto("MLP/ReLU[act]/out", "aten::relu", ["MLP/Linear[fc1]/out"], [64, 256]),
        node_proto("MLP/Linear[fc2]/weight", "prim::GetAttr", [], None),
        node_proto(
            "MLP/Linear[fc2]/out", "aten::linear", ["MLP/ReLU[act]/out", "MLP/Linear[fc2]/weight"]
        ),
        node_proto("output/output.1", "IO Node", ["MLP/Linear[fc2]/out"], [64, 10]),
    ]
    graph = graph_pb2.GraphDef(node=nodes, versions=versions_pb2.VersionDef(producer=PRODUCER))
    run_metadata = run_metadata_pb2.RunMetadata(
        step_stats=run_metadata_pb2.StepStats(
            dev_stats=[run_metadata_pb2.DeviceStepStats(device="/device:CPU:0")]
        )
    )
    return graph.SerializeToString(deterministic=True), run_metadata.SerializeToString(
        deterministic=True
    )


class TorchStyle:
    """``torch.utils.tensorboard.SummaryWriter`` (format.md §3.4, §4)."""

    name = "torch"
    kinds: ClassVar[frozenset[str]] = frozenset(ALL_KINDS)
    writer_name: str | None = "tensorboard.summary.writer.event_file_writer"
    run_metadata_tag = b"step1"

    # -- files --------------------------------------------------------------------------------
    def file_name(self, seconds: int, pid: int) -> str:
        return f"events.out.tfevents.{seconds:010d}.{HOST}.{pid}.0"

    def header(self, wall_time: float) -> bytes:
        """The first event: file_version (and who wrote the file)."""
        what = wire.length_delimited(3, FILE_VERSION.encode())
        if self.writer_name:
            what += wire.message_field(
                wire.EVENT_SOURCE_METADATA, wire.length_delimited(1, self.writer_name.encode())
            )
        return wire.event_bytes(wall_time, None, what)

    def restart(self, wall_time: float, step: int) -> list[bytes]:
        """What ``SummaryWriter(purge_step=step)`` writes after the first event."""
        return [
            wire.event_bytes(wall_time, step, wire.length_delimited(3, FILE_VERSION.encode())),
            wire.event_bytes(
                wall_time, step, wire.message_field(wire.EVENT_SESSION_LOG, b"\x08\x01")
            ),
        ]

    # -- values (each a serialized Summary.Value) ----------------------------------------------
    def scalar_parts(self, tag: str) -> tuple[bytes, bytes]:
        """(prefix, suffix) around the 4 bytes of a float32 scalar, from Event.summary on."""
        return simple_value_prefix(tag.encode()), b""

    def histogram(self, tag: str, values: np.ndarray) -> bytes:
        return histogram_value(tag.encode(), values, "tensorflow", None)

    def histogram_miscounted(self, tag: str, values: np.ndarray) -> bytes:
        """A histogram whose ``num`` is one more than its buckets hold (a fault)."""
        counts, edges = np.histogram(values, bins=10)
        histo = histogram_proto_bytes(
            float(values.min()),
            float(values.max()),
            float(len(values) + 1),
            float(values.sum()),
            float(values.dot(values)),
            edges[1:],
            counts.astype(np.float64),
        )
        return histo_value(tag.encode(), histo)

    def images(self, tag: str, images: list[np.ndarray]) -> bytes:
        return image_value(tag, images[0], "CHW")

    def image_blob(self, tag: str, blob: bytes, width: int, height: int) -> bytes:
        """An image value with the given bytes and declared size (for faults)."""
        image = summary_pb2.Summary.Image(
            height=height, width=width, colorspace=3, encoded_image_string=blob
        )
        return summary_pb2.Summary.Value(tag=tag, image=image).SerializeToString()

    def audio(self, tag: str, clip: np.ndarray, sample_rate: int) -> bytes:
        return audio_value(tag, clip, sample_rate)

    def text(self, tag: str, text: str) -> bytes:
        return text_value(tag, text)

    def text_tag(self, tag: str) -> str:
        return tag + "/text_summary"

    def pr_curve(self, tag: str, labels: np.ndarray, predictions: np.ndarray, t: int) -> bytes:
        return pr_curve_value(tag, labels, predictions, t, None)

    def hparams(
        self, hparams: dict[str, Any], metrics: list[str], domains: dict[str, list[Any]]
    ) -> tuple[list[bytes], list[bytes]]:
        """(values logged when the run starts, values logged when it ends)."""
        experiment, start, end = (
            _deterministic(v) for v in hparams_values(hparams, dict.fromkeys(metrics, 0.0), domains)
        )
        return [experiment, start], [end]

    def custom_scalars(self, layout: dict[str, Any]) -> bytes:
        return custom_scalars_value(layout)

    def mesh(self, tag: str, vertices: np.ndarray, colors: np.ndarray) -> list[bytes]:
        return mesh_values(tag, vertices, colors, None, {"camera": {"cls": "PerspectiveCamera"}})

    def mesh_tags(self, tag: str) -> list[str]:
        return [f"{tag}_VERTEX", f"{tag}_COLOR"]

    def tensor(self, tag: str, array: np.ndarray) -> bytes:
        return tensor_value(tag, array)

    def graph(self) -> list[bytes]:
        """Keyed ``Event`` fields: the graph, then the run metadata (``add_graph``)."""
        graph, run_metadata = model_graph()
        tagged = wire.length_delimited(1, self.run_metadata_tag) + wire.length_delimited(
            2, run_metadata
        )
        return [
            wire.length_delimited(4, graph),
            wire.message_field(wire.EVENT_TAGGED_RUN_METADATA, tagged),
        ]


class TensorboardXStyle(TorchStyle):
    """tensorboardX 2.6 (format.md §3.5): torch's encodings, different file names, a bare
    first event, mesh tags numbered by component, no ``add_tensor``."""

    name = "tensorboardx"
    kinds: ClassVar[frozenset[str]] = frozenset(ALL_KINDS) - {"tensors"}
    writer_name = None
    run_metadata_tag = b"profiler"

    def file_name(self, seconds: int, pid: int) -> str:
        return f"events.out.tfevents.{seconds:010d}.{HOST}"

    def mesh(self, tag: str, vertices: np.ndarray, colors: np.ndarray) -> list[bytes]:
        values = []
        for raw in super().mesh(tag, vertices, colors):
            value = summary_pb2.Summary.Value.FromString(raw)
            content = MeshPluginData.FromString(value.metadata.plugin_data.content)
            content.ClearField("components")
            value.metadata.plugin_data.content = content.SerializeToString()
            value.tag = f"{tag}_{content.content_type}"
            values.append(value.SerializeToString())
        return values

    def mesh_tags(self, tag: str) -> list[str]:
        return [f"{tag}_{MeshPluginData.VERTEX}", f"{tag}_{MeshPluginData.COLOR}"]


def _tensor(dtype: int, array: np.ndarray, little_endian: str) -> Any:
    return tensor_pb2.TensorProto(
        dtype=dtype,
        tensor_shape=_shape(array.shape),
        tensor_content=np.ascontiguousarray(array, dtype=little_endian).tobytes(),
    )


def _strings(strings: list[bytes], shape: Sequence[int]) -> Any:
    return tensor_pb2.TensorProto(dtype=DT_STRING, tensor_shape=_shape(shape), string_val=strings)


def _value(tag: str, tensor: Any, metadata: Any = None) -> bytes:
    value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    if metadata is not None:
        value.metadata.CopyFrom(metadata)
    return value.SerializeToString()


class TF2Style(TorchStyle):
    """TensorFlow 2 ``tf.summary`` (format.md §3.6): tensors with plugin metadata (no
    ``data_class``), ``.v2`` files, first event at whole seconds, no ``purge_step``."""

    name = "tf2"
    kinds: ClassVar[frozenset[str]] = frozenset(ALL_KINDS)
    writer_name = "tensorflow.core.util.events_writer"
    HISTOGRAM_BUCKETS = 30
    MAX_IMAGES = 3

    def file_name(self, seconds: int, pid: int) -> str:
        return f"events.out.tfevents.{seconds:010d}.{HOST}.{pid}.0.v2"

    def header(self, wall_time: float) -> bytes:
        return super().header(float(int(wall_time)))

    def restart(self, wall_time: float, step: int) -> list[bytes]:
        """TF2 has no ``purge_step``; a restart is marked the TF1 way: ``SessionLog`` START at
        the step training resumes from."""
        return [
            wire.event_bytes(
                wall_time, step, wire.message_field(wire.EVENT_SESSION_LOG, b"\x08\x01")
            )
        ]

    def scalar_parts(self, tag: str) -> tuple[bytes, bytes]:
        # Value{tag, tensor{dtype: DT_FLOAT, tensor_shape: {}, tensor_content: <4 bytes>},
        #       metadata{plugin_data{plugin_name: "scalars"}}}  (format.md §1.3)
        suffix = wire.length_delimited(9, _metadata("scalars").SerializeToString())
        head = wire.length_delimited(1, tag.encode()) + b"\x42\x0a\x08\x01\x12\x00\x22\x04"
        value_len = len(head) + 4 + len(suffix)
        summary = wire.SUMMARY_VALUE + wire.varint(value_len)
        prefix = wire.EVENT_SUMMARY + wire.varint(len(summary) + value_len) + summary + head
        return prefix, suffix

    def histogram(self, tag: str, values: np.ndarray) -> bytes:
        low, high = float(values.min()), float(values.max())
        counts, edges = np.histogram(values, bins=self.HISTOGRAM_BUCKETS, range=(low, high))
        table = np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)
        return _value(tag, _tensor(DT_DOUBLE, table, "<f8"), _metadata("histograms"))

    def images(self, tag: str, images: list[np.ndarray]) -> bytes:
        hwc = [to_uint8(img.transpose(1, 2, 0)) for img in images[: self.MAX_IMAGES]]
        height, width = hwc[0].shape[:2]
        blobs = [str(width).encode(), str(height).encode(), *(encode_png(i) for i in hwc)]
        return _value(tag, _strings(blobs, [len(blobs)]), _metadata("images"))

    def image_blob(self, tag: str, blob: bytes, width: int, height: int) -> bytes:
        blobs = [str(width).encode(), str(height).encode(), blob]
        return _value(tag, _strings(blobs, [3]), _metadata("images"))

    def audio(self, tag: str, clip: np.ndarray, sample_rate: int) -> bytes:
        wav = encode_wav((clip * 32767).astype("<i2"), sample_rate)
        content = plugin_data_pb2.AudioPluginData(
            encoding=plugin_data_pb2.AudioPluginData.WAV
        ).SerializeToString()
        return _value(tag, _strings([wav, b""], [1, 2]), _metadata("audio", content))

    def text(self, tag: str, text: str) -> bytes:
        return _value(tag, _strings([text.encode()], []), _metadata("text"))

    def text_tag(self, tag: str) -> str:
        return tag

    def pr_curve(self, tag: str, labels: np.ndarray, predictions: np.ndarray, t: int) -> bytes:
        data = compute_curve(labels, predictions, t).astype(np.float32)
        content = plugin_data_pb2.PrCurvePluginData(num_thresholds=t).SerializeToString()
        return _value(tag, _tensor(DT_FLOAT, data, "<f4"), _metadata("pr_curves", content))

    def hparams(
        self, hparams: dict[str, Any], metrics: list[str], domains: dict[str, list[Any]]
    ) -> tuple[list[bytes], list[bytes]]:
        """``hp.hparams_config`` and ``hp.hparams``: experiment and session start, each with
        a null tensor; TF2 logs no session end."""
        start, _ = super().hparams(hparams, metrics, domains)
        null = tensor_pb2.TensorProto(dtype=DT_FLOAT, tensor_shape=_shape([0]))
        values = []
        for raw in start:
            value = summary_pb2.Summary.Value.FromString(raw)
            value.tensor.CopyFrom(null)
            values.append(value.SerializeToString(deterministic=True))
        return values, []

    def mesh(self, tag: str, vertices: np.ndarray, colors: np.ndarray) -> list[bytes]:
        """``mesh.summary_v2.mesh``: float32 vertices, uint8 colours."""
        components = 1 << MeshPluginData.VERTEX | 1 << MeshPluginData.COLOR
        values = []
        for suffix, kind, dtype, array, le in (
            ("VERTEX", MeshPluginData.VERTEX, DT_FLOAT, vertices, "<f4"),
            ("COLOR", MeshPluginData.COLOR, DT_UINT8, colors, "u1"),
        ):
            content = MeshPluginData(
                name=tag,
                content_type=kind,
                components=components,
                shape=list(array.shape),
                json_config='{"camera": {"cls": "PerspectiveCamera"}}',
            ).SerializeToString()
            values.append(
                _value(f"{tag}_{suffix}", _tensor(dtype, array, le), _metadata("mesh", content))
            )
        return values

    def tensor(self, tag: str, array: np.ndarray) -> bytes:
        """``tf.summary.write`` without metadata: the tensor alone."""
        return _value(tag, _tensor(DT_INT32, array.astype(np.int32), "<i4"))

    def graph(self) -> list[bytes]:
        """``tf.summary.graph``: the graph_def event only."""
        return super().graph()[:1]


STYLES: dict[str, TorchStyle] = {
    style.name: style for style in (TorchStyle(), TensorboardXStyle(), TF2Style())
}
