"""The writer's hand-built bytes: the same as protobuf's own serialization, framed as
tbtool.format.record frames records, and histograms binned exactly as torch bins them."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from writer_support import payloads, summary_values

from tbtool.format.record import encode_record
from tbtool.proto import event_pb2, histogram_pb2, summary_pb2
from tbtool.writer import SummaryWriter, wire
from tbtool.writer.event_file import frame
from tbtool.writer.histogram import DEFAULT_BINS, histogram_proto_bytes, make_histogram

STEPS = [0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**21, 2**40, -1, -(2**63), 2**63 - 1]


@pytest.mark.parametrize("n", [*STEPS, 300, 2**64 - 1])
def test_varint_is_protobufs(n):
    if n >= 2**63:
        # uint64 only (negative int64s wrap to the same bytes)
        assert wire.varint(n) == wire.varint(n - 2**64)
        return
    event = event_pb2.Event(step=n)
    assert event.SerializeToString() == (wire.EVENT_STEP + wire.varint(n) if n else b"")


def _canonical(payload: bytes) -> bool:
    return event_pb2.Event.FromString(payload).SerializeToString() == payload


@pytest.mark.parametrize("step", [None, *STEPS])
def test_scalar_events_are_byte_identical_to_protobufs(tmp_path, step):
    tag = "x" * 200  # a tag long enough for two-byte length varints
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("loss", 0.25, step, walltime=1700000000.5)
        w.add_scalar(tag, 3, step)
        w.add_scalar("new", 1 / 3, step, walltime=1.0, new_style=True)
        w.add_scalar("newd", 1 / 3, step, walltime=1.0, new_style=True, double_precision=True)
        w.add_scalars("main/a", {"b": 1.5}, step, walltime=2.0)
    (path,) = [p for p in tmp_path.iterdir() if p.is_file() and "tfevents" in p.name]
    main = payloads(path)
    assert len(main) == 5
    assert all(_canonical(p) for p in main)
    first, *scalars = (event_pb2.Event.FromString(p) for p in main)
    assert first.file_version == "brain.Event:2"
    expected = event_pb2.Event(
        wall_time=1700000000.5,
        step=step or 0,
        summary=summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag="loss", simple_value=0.25)]
        ),
    )
    assert scalars[0] == expected
    assert scalars[1].summary.value[0].tag == tag
    assert scalars[1].summary.value[0].simple_value == 3.0
    new, newd = scalars[2].summary.value[0], scalars[3].summary.value[0]
    assert new.metadata.plugin_data.plugin_name == "scalars"
    assert not new.metadata.plugin_data.content and not new.metadata.data_class
    assert not new.tensor.HasField("tensor_shape")
    assert new.tensor.dtype == 1 and list(new.tensor.float_val) == [np.float32(1 / 3)]
    assert newd.tensor.dtype == 2 and list(newd.tensor.double_val) == [1 / 3]
    (sub,) = payloads(next((tmp_path / "main_a_b").iterdir()))[1:]
    assert _canonical(sub)
    assert event_pb2.Event.FromString(sub).summary.value[0].tag == "main/a"


@pytest.mark.parametrize(
    "value",
    [1e39, -1e39, 2**1100, math.inf, -math.inf],
    ids=["1e39", "-1e39", "2**1100", "inf", "-inf"],
)
def test_scalars_beyond_float32_become_infinite(tmp_path, value):
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("big", value, 3)
        w.add_scalar("big", value)
    values = [v.simple_value for _, v in summary_values(tmp_path)]
    assert values == [math.inf if value > 0 else -math.inf] * 2


def test_nan_scalars_are_logged(tmp_path):
    # A NaN loss is information: torch logs it and TensorBoard shows it.
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("loss", math.nan, 1)
        w.add_scalar("loss", np.float32("nan"), 2, new_style=True)
    assert all(
        math.isnan(v.simple_value or v.tensor.float_val[0]) for _, v in summary_values(tmp_path)
    )


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_frame_is_record_framing(chunks):
    assert frame(chunks) == b"".join(encode_record(c) for c in chunks)


def test_every_payload_is_canonical_protobuf(tmp_path):
    """All hand-built events equal protobuf's serialization of what they decode to."""
    rng = np.random.default_rng(1)
    with SummaryWriter(tmp_path, purge_step=3) as w:
        w.add_histogram("h", rng.normal(size=100), 4)
        w.add_histogram("h0", np.zeros(5), 5)  # min = max = sum = 0: fields left out
        w.add_histogram_raw("raw", 0.0, 3.0, 4, 6.0, 14.0, [1.0, 2.0, 3.0], [1, 2, 1], 6)
        w.add_mesh("m", rng.normal(size=(1, 4, 3)), global_step=7)
        w.add_text("t", "hi", 8)
    for p in payloads(next(p for p in tmp_path.iterdir() if p.is_file())):
        assert _canonical(p)


def test_histogram_bytes_are_protobufs():
    limits, counts = np.array([0.5, 1.0, -0.0, 2.0]), np.array([0.0, 2.0, 1.0, 3.0])
    for stats in [(0.0, 0.0, 0.0, 0.0, 0.0), (-0.0, 1.5, 3.0, -2.0, 9.0)]:
        expected = histogram_pb2.HistogramProto(
            min=stats[0],
            max=stats[1],
            num=stats[2],
            sum=stats[3],
            sum_squares=stats[4],
            bucket_limit=limits.tolist(),
            bucket=counts.tolist(),
        ).SerializeToString()
        assert histogram_proto_bytes(*stats, limits, counts) == expected


def _torch_make_histogram():
    from torch.utils.tensorboard.summary import make_histogram as torch_make_histogram

    return torch_make_histogram


def test_default_bins_are_torchs(tmp_path):
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    w = TorchWriter(tmp_path)  # torch computes them in the constructor
    assert DEFAULT_BINS.tolist() == w.default_bins
    w.close()
    assert len(DEFAULT_BINS) == 1549
    with SummaryWriter(tmp_path / "ours") as ours:
        assert ours.default_bins == w.default_bins


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=hnp.arrays(np.float64, st.integers(1, 300), elements=finite),
    bins=st.one_of(
        st.just("tensorflow"), st.integers(1, 40), st.sampled_from(["auto", "fd", "sturges"])
    ),
    max_bins=st.one_of(st.none(), st.integers(1, 12)),
)
def test_histograms_bin_like_torch(values, bins, max_bins):
    if isinstance(bins, str) and bins != "tensorflow":
        # numpy's "fd"/"auto" make range / (2 IQR n^-1/3) bins: a tiny but non-zero IQR under
        # a wide range asks both torch and us for billions of bins (a 42 GiB array once).
        iqr = float(np.subtract(*np.percentile(values, [75, 25])))
        assume(iqr == 0 or iqr >= float(np.ptp(values)) * 1e-3)
    torch_make_histogram = _torch_make_histogram()
    np_bins = DEFAULT_BINS if bins == "tensorflow" else bins
    try:
        expected = torch_make_histogram(
            values, np_bins.tolist() if bins == "tensorflow" else bins, max_bins
        )
    except (ValueError, MemoryError) as e:
        with pytest.raises(ValueError):
            make_histogram(values, np_bins, max_bins)
        assert "empty" in str(e) or "bins" in str(e).lower() or "range" in str(e)
        return
    got = histogram_pb2.HistogramProto.FromString(make_histogram(values, np_bins, max_bins))
    want = histogram_pb2.HistogramProto.FromString(expected.SerializeToString())
    assert list(got.bucket_limit) == list(want.bucket_limit)
    assert list(got.bucket) == list(want.bucket)
    assert (got.min, got.max, got.num) == (want.min, want.max, want.num)
    assert got.sum == pytest.approx(want.sum) and got.sum_squares == pytest.approx(want.sum_squares)


def test_scalar_fast_paths_agree_with_the_general_encoding():
    """The struct packers used for small steps give the bytes the general path gives."""
    from tbtool.writer.scalar import ScalarPackers

    packers = ScalarPackers(b"tag")
    for step in [1, 127, 128, 16383, 16384, 2**21 - 1]:
        if step < 0x80:
            fast = packers.step1(9, 5.0, 16, step, packers.prefix, 1.5)
        elif step < 0x4000:
            fast = packers.step2(9, 5.0, 16, step & 0x7F | 0x80, step >> 7, packers.prefix, 1.5)
        else:
            fast = packers.step3(
                9,
                5.0,
                16,
                step & 0x7F | 0x80,
                step >> 7 & 0x7F | 0x80,
                step >> 14,
                packers.prefix,
                1.5,
            )
        assert fast == packers.any_step(5.0, step, 1.5)
    assert packers.no_step(9, 5.0, packers.prefix, 1.5) == packers.any_step(5.0, None, 1.5)
    assert struct.unpack("<f", packers.any_step(5.0, 3, 1.5)[-4:]) == (1.5,)
