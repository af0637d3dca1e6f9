"""Text: a one-element string tensor under ``<tag>/text_summary`` (format.md §3.4).

TensorBoard renders it as Markdown. The plugin content is an empty ``TextPluginData``.
"""

from __future__ import annotations

from typing import Any

from tbtool.proto import summary_pb2, tensor_pb2, tensor_shape_pb2
from tbtool.writer.wire import length_delimited

DT_STRING = 7
#: SummaryMetadata{plugin_data{plugin_name: "text"}} as Summary.Value field 9.
_TEXT_METADATA = length_delimited(9, length_delimited(1, length_delimited(1, b"text")))


def text_value(tag: str, text_string: Any) -> bytes:
    """The serialized ``Summary.Value`` of ``add_text`` (built by hand: it is small and
    often logged every step)."""
    if not isinstance(text_string, str):
        raise TypeError(f"text_string must be a str, not {type(text_string).__name__}")
    try:
        data = text_string.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"text_string is not valid Unicode text: {e}") from None
    # TensorProto{dtype: DT_STRING, tensor_shape{dim{size: 1}}, string_val: [data]}
    tensor = b"\x08\x07\x12\x04\x12\x02\x08\x01" + length_delimited(8, data)
    return (
        length_delimited(1, (tag + "/text_summary").encode("utf-8"))
        + length_delimited(8, tensor)
        + _TEXT_METADATA
    )


def _text_value_protobuf(tag: str, text_string: str) -> bytes:
    """The same value built with protobuf (the reference for tests)."""
    tensor = tensor_pb2.TensorProto(
        dtype=DT_STRING,
        string_val=[text_string.encode("utf-8")],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]
        ),
    )
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text")
    )
    value = summary_pb2.Summary.Value(tag=tag + "/text_summary", metadata=metadata, tensor=tensor)
    return value.SerializeToString()
