"""3-D meshes: one tensor value per component (``<tag>_VERTEX``, ``_FACE``, ``_COLOR``),
plugin ``mesh`` with a ``MeshPluginData`` each (format.md §2.7, §3.4).

Like torch, every component is a DT_FLOAT ``[B, N, 3]`` tensor (TensorBoard's own summary
writes faces as int32 and colors as uint8; its mesh plugin reads both).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from tbtool.proto import mesh_pb2, summary_pb2, tensor_shape_pb2
from tbtool.writer.convert import check_finite, to_real_array
from tbtool.writer.wire import length_delimited, varint

MeshPluginData = mesh_pb2.MeshPluginData
DT_FLOAT = 1


def _component(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"{name} must have shape [B, N, 3], got {array.shape}")
    check_finite(array, name)
    return array


def _float_tensor(array: np.ndarray) -> bytes:
    """``TensorProto{DT_FLOAT, shape, float_val}`` with the floats packed straight from
    numpy (the bytes protobuf would write)."""
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in array.shape]
    ).SerializeToString()
    data = np.ascontiguousarray(array, dtype="<f4").tobytes()
    out = b"\x08\x01" + b"\x12" + varint(len(shape)) + shape
    if data:
        out += b"\x2a" + varint(len(data)) + data
    return out


def mesh_values(tag: str, vertices: Any, colors: Any, faces: Any, config_dict: Any) -> list[bytes]:
    """The serialized ``Summary.Value``\\ s of ``add_mesh``, in torch's order."""
    if config_dict is None:
        json_config = "{}"
    else:
        try:
            json_config = json.dumps(config_dict, sort_keys=True)
        except (TypeError, ValueError) as e:
            raise TypeError(f"config_dict must be JSON-serializable: {e}") from None
    parts = [(_component(to_real_array(vertices, "vertices"), "vertices"), MeshPluginData.VERTEX)]
    if faces is not None:
        parts.append((_component(to_real_array(faces, "faces"), "faces"), MeshPluginData.FACE))
    if colors is not None:
        color_array = _component(to_real_array(colors, "colors"), "colors")
        if color_array.shape[:2] != parts[0][0].shape[:2]:
            raise ValueError(
                f"colors {color_array.shape} must have one color per vertex {parts[0][0].shape}"
            )
        parts.append((color_array, MeshPluginData.COLOR))
    components = 0
    for _, content_type in parts:
        components |= 1 << content_type
    values = []
    for array, content_type in parts:
        content = MeshPluginData(
            version=0,
            name=tag,
            content_type=content_type,
            components=components,
            shape=list(array.shape),
            json_config=json_config,
        )
        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(
                plugin_name="mesh", content=content.SerializeToString()
            )
        )
        name = f"{tag}_{MeshPluginData.ContentType.Name(content_type)}"
        values.append(
            length_delimited(1, name.encode())
            + length_delimited(8, _float_tensor(array))
            + length_delimited(9, metadata.SerializeToString())
        )
    return values
