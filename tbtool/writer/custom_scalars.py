"""Custom-scalars layouts: ``{category: {chart title: [kind, tags]}}`` → ``Layout``.

Kind ``"Margin"`` takes exactly three tags (value, lower, upper); any other kind is a
multiline chart of tag regexes (format.md §2.7, §4.4). The layout is one DT_STRING rank-0
tensor under the tag ``custom_scalars__config__``, plugin ``custom_scalars``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tbtool.proto import custom_scalar_layout_pb2 as layout_pb2
from tbtool.proto import summary_pb2, tensor_pb2, tensor_shape_pb2

TAG = "custom_scalars__config__"
DT_STRING = 7


def _tags(value: Any, where: str) -> list[str]:
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise TypeError(f"{where}: tags must be a list of str, not {type(value).__name__}")
    tags = list(value)
    for tag in tags:
        if not isinstance(tag, str):
            raise TypeError(f"{where}: tags must be str, not {type(tag).__name__}")
    return tags


def make_layout(layout: Any) -> Any:
    """The ``Layout`` protobuf of a torch-style layout dict (checked)."""
    if not isinstance(layout, Mapping):
        raise TypeError(f"layout must be a dict, not {type(layout).__name__}")
    categories = []
    for title, charts in layout.items():
        if not isinstance(title, str):
            raise TypeError(f"layout category titles must be str, not {type(title).__name__}")
        if not isinstance(charts, Mapping):
            raise TypeError(f"layout[{title!r}] must be a dict of charts")
        built = []
        for chart_title, spec in charts.items():
            where = f"layout[{title!r}][{chart_title!r}]"
            if not isinstance(chart_title, str):
                raise TypeError(f"{where}: chart titles must be str")
            if isinstance(spec, str) or not hasattr(spec, "__len__") or len(spec) != 2:
                raise ValueError(f"{where} must be [kind, tags], e.g. ['Multiline', ['loss']]")
            kind, tags = spec[0], _tags(spec[1], where)
            if kind == "Margin":
                if len(tags) != 3:
                    raise ValueError(f"{where}: a Margin chart needs 3 tags, got {len(tags)}")
                series = layout_pb2.MarginChartContent.Series(
                    value=tags[0], lower=tags[1], upper=tags[2]
                )
                chart = layout_pb2.Chart(
                    title=chart_title, margin=layout_pb2.MarginChartContent(series=[series])
                )
            else:
                chart = layout_pb2.Chart(
                    title=chart_title, multiline=layout_pb2.MultilineChartContent(tag=tags)
                )
            built.append(chart)
        categories.append(layout_pb2.Category(title=title, chart=built))
    return layout_pb2.Layout(category=categories)


def custom_scalars_value(layout: Any) -> bytes:
    """The serialized ``Summary.Value`` holding the layout."""
    tensor = tensor_pb2.TensorProto(
        dtype=DT_STRING,
        string_val=[make_layout(layout).SerializeToString()],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
    )
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="custom_scalars")
    )
    value = summary_pb2.Summary.Value(tag=TAG, tensor=tensor, metadata=metadata)
    return value.SerializeToString()
