"""Text: a one-element string tensor under ``<tag>/text_summary`` (format.md §3.4).

TensorBoard renders it as Markdown. The plugin content is an empty ``TextPluginData``.
"""

from __future__ import annotations

from typing import Any

from tbtool.proto import summary_pb2, tensor_pb2, tensor_shape_pb2

DT_STRING = 7


def text_value(tag: str, text_string: Any) -> bytes:
    """The serialized ``Summary.Value`` of ``add_text``."""
    if not isinstance(text_string, str):
        raise TypeError(f"text_string must be a str, not {type(text_string).__name__}")
    try:
        data = text_string.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"text_string is not valid Unicode text: {e}") from None
    tensor = tensor_pb2.TensorProto(
        dtype=DT_STRING,
        string_val=[data],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]
        ),
    )
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text")
    )
    value = summary_pb2.Summary.Value(tag=tag + "/text_summary", metadata=metadata, tensor=tensor)
    return value.SerializeToString()
