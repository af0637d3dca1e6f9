"""Raw tensors (``add_tensor``): dtype and shape kept, plugin name ``"tensor"``.

Field per dtype follows torch (format.md §4.4) with its bugs fixed: float16 and bfloat16
go to ``half_val`` as their real 16-bit patterns (torch stores float32 bit patterns, which
TensorBoard cannot decode), uint8 goes to ``int_val`` (torch uses ``uint32_val``), and
complex32 is widened to complex64 (torch fails: there is no DT_COMPLEX32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tbtool.proto import summary_pb2, tensor_pb2, tensor_shape_pb2
from tbtool.writer.convert import is_torch_tensor, to_numpy

#: protobuf refuses messages of 2 GiB or more.
MAX_TENSOR_BYTES = 1 << 31

# numpy dtype -> (DataType enum, TensorProto field)
_FIELDS: dict[str, tuple[int, str]] = {
    "float16": (19, "half_val"),
    "bfloat16": (14, "half_val"),
    "float32": (1, "float_val"),
    "float64": (2, "double_val"),
    "int8": (6, "int_val"),
    "int16": (5, "int_val"),
    "int32": (3, "int_val"),
    "int64": (9, "int64_val"),
    "uint8": (4, "int_val"),
    "uint16": (17, "int_val"),
    "uint32": (22, "uint32_val"),
    "uint64": (23, "uint64_val"),
    "bool": (10, "bool_val"),
    "complex64": (8, "scomplex_val"),
    "complex128": (18, "dcomplex_val"),
}


def tensor_array(tensor: Any) -> tuple[np.ndarray, str]:
    """(array, dtype name); bfloat16 comes back as its uint16 bit patterns."""
    if is_torch_tensor(tensor):
        import torch

        name = "bfloat16" if tensor.dtype == torch.bfloat16 else None
        array = to_numpy(tensor, "tensor", keep_bits=True)
        return array, name or array.dtype.name
    array = np.asarray(tensor) if not isinstance(tensor, np.ndarray) else tensor
    if array.dtype.name == "bfloat16":
        return to_numpy(array, "tensor", keep_bits=True), "bfloat16"
    return to_numpy(tensor, "tensor"), array.dtype.name


def tensor_value(tag: str, tensor: Any) -> bytes:
    """The serialized ``Summary.Value{tag, tensor, metadata{plugin_name: "tensor"}}``."""
    if isinstance(tensor, (str, bytes)) or tensor is None:
        raise TypeError(f"tensor must be an array or tensor, not {type(tensor).__name__}")
    array, dtype = tensor_array(tensor)
    if dtype not in _FIELDS:
        raise TypeError(f"tensor has dtype {dtype}, which has no TensorBoard equivalent")
    if array.nbytes >= MAX_TENSOR_BYTES:
        raise ValueError(f"tensor is {array.nbytes} bytes; protobuf's limit is 2 GiB")
    data_type, field = _FIELDS[dtype]
    flat = array.reshape(-1)
    if field == "half_val":
        values = flat.view(np.uint16).tolist()
    elif field in ("scomplex_val", "dcomplex_val"):
        values = np.stack([flat.real, flat.imag], axis=-1).reshape(-1).tolist()
    else:
        values = flat.tolist()
    proto = tensor_pb2.TensorProto(
        dtype=data_type,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in array.shape]
        ),
    )
    getattr(proto, field).extend(values)
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="tensor")
    )
    value = summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=proto)
    return value.SerializeToString()
