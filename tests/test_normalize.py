"""Normalization rules (format.md §3.7) on hand-built values, one rule per test.

The fixtures prove agreement with real writers; these pin down encodings no fixture writer
produces (16-bit half patterns, tensor_content for every dtype, broadcast, odd shapes).
"""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tbtool.proto import event_pb2, histogram_pb2, summary_pb2, tensor_pb2
from tbtool.values.normalize import Normalizer, event_values, histogram_from_proto
from tbtool.values.tensor import TensorDecodeError, decode_tensor
from tbtool.values.typed import Histogram, HParams, Scalar, Tensor, Text

DT = {
    "float": 1,
    "double": 2,
    "int32": 3,
    "uint8": 4,
    "string": 7,
    "int64": 9,
    "bool": 10,
    "bfloat16": 14,
    "half": 19,
    "uint32": 22,
    "uint64": 23,
}


def tensor(dtype: str, shape=(), **fields) -> tensor_pb2.TensorProto:
    t = tensor_pb2.TensorProto(dtype=DT[dtype], **fields)
    for d in shape:
        t.tensor_shape.dim.add(size=d)
    return t


def value(tag="t", plugin=None, data_class=0, **kw) -> summary_pb2.Summary.Value:
    v = summary_pb2.Summary.Value(tag=tag, **kw)
    if plugin is not None or data_class:
        v.metadata.plugin_data.plugin_name = plugin or ""
        v.metadata.data_class = data_class
    return v


def normalize(v, normalizer=None):
    return (normalizer or Normalizer()).summary_value(v)[2]


@given(st.floats(width=16, allow_nan=False))
def test_half_16bit_pattern_scalar(x):
    bits = struct.unpack("<H", np.float16(x).tobytes())[0]
    got = normalize(value(plugin="scalars", tensor=tensor("half", half_val=[bits])))
    assert isinstance(got, Scalar) and got.value == float(np.float16(x)) and got.dtype == "float16"


@given(st.floats(width=32, allow_nan=False))
def test_bfloat16_pattern_scalar(x):
    bits = struct.unpack("<I", struct.pack("<f", x))[0] >> 16
    expected = struct.unpack("<f", struct.pack("<I", bits << 16))[0]
    got = normalize(value(plugin="scalars", tensor=tensor("bfloat16", half_val=[bits])))
    assert got.value == expected


def test_torch_half_quirk_scalar():
    # torch stores the float32 bit pattern in half_val (format.md §4.4).
    bits = struct.unpack("<i", struct.pack("<f", -2.5))[0]
    got = normalize(value(plugin="scalars", tensor=tensor("half", half_val=[bits])))
    assert got.value == -2.5 and "torch" in got.dtype


@pytest.mark.parametrize(
    ("dtype", "np_dtype", "x"),
    [
        ("float", "<f4", 0.5),
        ("double", "<f8", 1 / 3),
        ("int32", "<i4", -7),
        ("int64", "<i8", 2**40),
        ("uint8", "u1", 200),
        ("bool", "?", True),
        ("half", "<f2", 1.5),
        ("uint64", "<u8", 2**63),
    ],
)
def test_scalar_from_tensor_content_any_dtype(dtype, np_dtype, x):
    content = np.array([x], dtype=np_dtype).tobytes()
    got = normalize(value(data_class=1, tensor=tensor(dtype, shape=(1, 1), tensor_content=content)))
    assert got.value == float(np.array(x, dtype=np_dtype))


def test_scalar_with_more_than_one_element_is_kept_as_undecodable_tensor():
    got = normalize(value(plugin="scalars", tensor=tensor("float", shape=(2,), float_val=[1, 2])))
    assert isinstance(got, Tensor) and got.array is None and "1 element" in got.error


def test_typed_field_broadcast_and_padding():
    array, _ = decode_tensor(tensor("float", shape=(2, 2), float_val=[3.0]))
    np.testing.assert_array_equal(array, [[3, 3], [3, 3]])
    array, _ = decode_tensor(tensor("int32", shape=(4,), int_val=[1, 2]))
    np.testing.assert_array_equal(array, [1, 2, 2, 2])
    with pytest.raises(TensorDecodeError):
        decode_tensor(tensor("float", shape=(2,), tensor_content=b"\x00" * 12))
    with pytest.raises(TensorDecodeError):
        decode_tensor(tensor("float", shape=(2,), tensor_content=b"\x00" * 7))


def test_unknown_dtype_is_reported_not_raised():
    got = normalize(value(plugin="x", tensor=tensor_pb2.TensorProto(dtype=24, float8_val=b"\x01")))
    assert isinstance(got, Tensor) and got.array is None and "DT_24" in got.error


@pytest.mark.parametrize(("plugin", "shape"), [("histograms", (1, 3)), ("pr_curves", (6, 1))])
def test_strings_that_are_no_numbers_under_a_numeric_plugin_are_undecodable(plugin, shape):
    """A string tensor under the histogram or PR curve plugin whose strings are not numbers
    is an undecodable tensor, not a ValueError out of the reader (found by the fuzzer)."""
    strings = ["ü".encode()] * math.prod(shape)
    got = normalize(value(plugin=plugin, tensor=tensor("string", shape=shape, string_val=strings)))
    assert isinstance(got, Tensor) and got.array is None and "not numbers" in got.error


def test_histogram_tensor_float32_and_float64():
    rows = np.array([[0, 1, 2], [1, 2, 3]], dtype=np.float64)
    for np_dtype, dt in (("<f4", "float"), ("<f8", "double")):
        t = tensor(dt, shape=(2, 3), tensor_content=rows.astype(np_dtype).tobytes())
        got = normalize(value(plugin="histograms", tensor=t))
        assert isinstance(got, Histogram) and got.min is None
        np.testing.assert_array_equal(got.rows, rows)
    empty = normalize(value(plugin="histograms", tensor=tensor("double", shape=(0, 3))))
    assert len(empty.count) == 0


def test_histo_rows_follow_tensorboard_python_convention():
    h = histogram_pb2.HistogramProto(
        min=0.5,
        max=4.5,
        num=6,
        sum=12,
        sum_squares=30,
        bucket_limit=[0, 1, 2, 3, 4, 5, 1.7976931348623157e308],
        bucket=[0, 1, 0, 2, 3, 0, 0],
    )
    got = histogram_from_proto(h)
    # empty edge buckets dropped; outer edges are min and max (format.md §3.2)
    np.testing.assert_array_equal(got.rows, [[0.5, 1, 1], [1, 2, 0], [2, 3, 2], [3, 4.5, 3]])
    assert got.num == 6 and len(got.bucket_limit) == 7
    none = histogram_from_proto(histogram_pb2.HistogramProto(bucket_limit=[1], bucket=[0]))
    assert none.rows.shape == (0, 3)


def test_histo_with_mismatched_lengths_is_undecodable():
    h = histogram_pb2.HistogramProto(bucket_limit=[1, 2, 3], bucket=[1, 1])
    got = normalize(value(histo=h))
    assert isinstance(got, Tensor) and "bucket" in got.error


def test_first_metadata_of_a_tag_classifies_later_values():
    n = Normalizer()
    text = tensor("string", shape=(), string_val=[b"first"])
    assert isinstance(normalize(value(tag="notes", plugin="text", tensor=text), n), Text)
    later = tensor("string", shape=(), string_val=[b"second"])
    got = normalize(value(tag="notes", tensor=later), n)  # metadata stripped (TF1 FileWriter)
    assert isinstance(got, Text) and got.strings == ["second"]
    # later, different metadata is ignored too
    got = normalize(value(tag="notes", plugin="other", tensor=later), n)
    assert isinstance(got, Text)


def test_node_name_is_the_tag_when_tag_is_empty():
    v = summary_pb2.Summary.Value(node_name="legacy", simple_value=1.0)
    assert Normalizer().summary_value(v)[0] == "legacy"


def test_empty_value_is_skipped_but_metadata_only_hparams_is_not():
    assert Normalizer().summary_value(summary_pb2.Summary.Value(tag="video")) is None
    from tbtool.proto import hparams_pb2

    content = hparams_pb2.HParamsPluginData(
        session_end_info=hparams_pb2.SessionEndInfo(status=hparams_pb2.STATUS_FAILURE)
    ).SerializeToString()
    v = value(tag="_hparams_/session_end_info", plugin="hparams")
    v.metadata.plugin_data.content = content
    got = normalize(v)
    assert isinstance(got, HParams) and got.data == {"status": "STATUS_FAILURE"}


def test_event_level_kinds():
    n = Normalizer()
    start = event_pb2.Event(step=5, session_log=event_pb2.SessionLog(status=1))
    assert event_values(start, n)[0][2].status == "START"
    odd = event_pb2.Event(session_log=event_pb2.SessionLog(status=9))  # unknown enum value
    assert event_values(odd, n)[0][2].status == "9"
    graph = event_pb2.Event(graph_def=b"\x0a\x00")
    assert event_values(graph, n)[0][:2] == ("__run_graph__", "")
    log = event_pb2.Event(log_message=event_pb2.LogMessage(level=30, message="hi"))
    assert event_values(log, n)[0][2].brief() == "WARN: hi"
    assert event_values(event_pb2.Event(), n) == []


def test_simple_value_nan_survives():
    got = normalize(value(simple_value=math.nan))
    assert math.isnan(got.value)
