"""compat.tbparse's batch path against its per-event oracle.

``SummaryReader`` reads each file through the columnar index and applies the legacy
accumulator's rules on arrays; ``EventSummaryReader`` decodes every event with protobuf and
keeps the accumulator's lists, as before. Both must give the same tags, the same frames
(columns, dtypes, cell types and values) and the same errors, on every fixture, on synth
logdirs of every style with restarts and faults, and on generated event sequences that
stress the restart rules (file versions, STARTs, steps going back, tensor shapes).
"""

from __future__ import annotations

import itertools
import logging
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tbtool.compat.tbparse as compat
from tbtool.columnar import native
from tbtool.compat.columnar_accumulator import KeptFile
from tbtool.compat.tbparse_events import EventSummaryReader
from tbtool.format.record import encode_record
from tbtool.ops.synth.generate import synth
from tbtool.proto import event_pb2, histogram_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CORRUPT = sorted(p for p in (FIXTURES / "corrupt" / "logdir").iterdir() if p.is_dir())
WRITERS = sorted(
    p / "logdir" for p in FIXTURES.iterdir() if p.is_dir() and p.name not in ("corrupt", "scripts")
)
ALL = set(compat.ALL_EVENT_TYPES)
OPTIONS = [
    # (event_types, extra_columns): all kinds, tbparse's default, tensors not asked for
    # (a tensor reservoir of one), and images and audio with their extra columns.
    (ALL, set()),
    (None, {"dir_name", "file_name", "wall_time", "min", "num"}),
    ({"scalars", "text", "hparams"}, {"wall_time"}),
    ({"images", "audio", "histograms"}, set(compat.ALL_EXTRA_COLUMNS)),
]


def _read(reader: type, path: Path, pivot: bool, types: Any, extra: set) -> tuple:
    """Tags and frames of every asked kind, or the error raised."""
    try:
        r = reader(str(path), pivot=pivot, extra_columns=set(extra), event_types=types)
        kinds = sorted(types or compat.REDUCED_EVENT_TYPES)
        tags = {k: sorted(v) if k == "hparams" else v for k, v in r.tags.items()}
        return "ok", tags, {k: r.get_events(k) for k in kinds}
    except Exception as e:  # the error itself is compared
        return "error", type(e).__name__, re.sub(r"0x[0-9a-f]+", "", str(e))


def _cell_equal(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(b, np.ndarray):
        nan = b.dtype.kind in "fc"
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=nan)
    if isinstance(b, list):
        return len(a) == len(b) and all(_cell_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(b, float) and np.isnan(b):
        return bool(np.isnan(a))
    return bool(a == b)


def assert_same_result(got: tuple, want: tuple) -> None:
    assert got[:2] == want[:2]
    if got[0] == "error":
        assert got == want
        return
    for kind, frame in want[2].items():
        mine = got[2][kind]
        assert list(mine.columns) == list(frame.columns), kind
        assert list(mine.dtypes.astype(str)) == list(frame.dtypes.astype(str)), kind
        assert len(mine) == len(frame), kind
        for column in frame.columns:
            for i, (a, b) in enumerate(zip(mine[column], frame[column], strict=True)):
                assert _cell_equal(a, b), (kind, column, i, a, b)


def _compare(path: Path, options: list[tuple] = OPTIONS) -> None:
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for (types, extra), pivot in itertools.product(options, (False, True)):
                want = _read(EventSummaryReader, path, pivot, types, extra)
                got = _read(compat.SummaryReader, path, pivot, types, extra)
                assert_same_result(got, want)
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.parametrize("path", [*WRITERS, *CORRUPT], ids=lambda p: p.parent.name + "/" + p.name)
def test_fixtures_equal_per_event(path: Path) -> None:
    _compare(path)


FAULTS = {
    "torch": "no-file-version,step-backwards,duplicate-step,kind-change,histogram-counts,nan",
    "tensorboardx": "step-backwards,empty-value,bad-image,nan-wall-time,histogram-counts",
    "tf2": "no-file-version,step-backwards,duplicate-step,kind-change,empty-value,empty-run",
}


@pytest.mark.parametrize("style", sorted(FAULTS))
def test_synth_logdirs_equal_per_event(tmp_path: Path, style: str) -> None:
    clean = tmp_path / "clean"
    synth(clean, style=style, kinds="all", steps=40, runs=2, restart_at="50%")
    _compare(clean)
    faults = tmp_path / "faults"
    corrupt = FAULTS[style].split(",")
    synth(faults, style=style, kinds="all", steps=30, runs=len(corrupt), restart_at="50%",
          corrupt=corrupt)  # fmt: skip
    _compare(faults, OPTIONS[:3])


# -- tensors of one element: shape [] is a scalar, anything else an array ------------------------
def _tensor(value: float, dims: list[int] | None, double: bool = False) -> Any:
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims or []],
        unknown_rank=dims is None,
    )
    if double:
        return tensor_pb2.TensorProto(dtype=2, tensor_shape=shape, double_val=[value])
    return tensor_pb2.TensorProto(dtype=1, tensor_shape=shape, float_val=[value])


def _write(path: Path, events: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(encode_record(e.SerializeToString()) for e in events))
    return path


def _summary(step: int, wall: float, values: list[Any]) -> Any:
    return event_pb2.Event(wall_time=wall, step=step, summary=summary_pb2.Summary(value=values))


SHAPES = {"rank0": [], "one": [1], "one_one": [1, 1], "unknown": None}


@pytest.mark.parametrize("pure", [False, True], ids=["native", "pure_python"])
def test_one_element_tensors_by_shape(tmp_path: Path, monkeypatch, pure: bool) -> None:
    if pure:
        monkeypatch.setenv("TBTOOL_PURE_PYTHON", "1")
    events = [event_pb2.Event(wall_time=1.0, file_version="brain.Event:2")]
    for step in range(3):
        values = [summary_pb2.Summary.Value(tag=t, tensor=_tensor(step + 0.5, dims))
                  for t, dims in SHAPES.items()]  # fmt: skip
        values.append(summary_pb2.Summary.Value(tag="double", tensor=_tensor(0.1, [], True)))
        events.append(_summary(step, 2.0 + step, values))
    path = _write(tmp_path / "run" / "events.out.tfevents.1.host", events)
    tensors = compat.SummaryReader(str(path), event_types={"tensors"}).tensors
    cells = {tag: group.value.tolist() for tag, group in tensors.groupby("tag")}
    assert cells["rank0"] == [0.5, 1.5, 2.5] and cells["double"] == [0.1] * 3
    assert all(type(v) is float for v in cells["rank0"] + cells["double"])
    for tag in ("one", "one_one", "unknown"):
        assert all(isinstance(v, np.ndarray) and v.size == 1 for v in cells[tag]), tag
    assert cells["one_one"][0].shape == (1, 1)
    _compare(path, [({"tensors", "scalars"}, {"wall_time"})])


@pytest.mark.skipif(not native.available(), reason="the C extension answers tensor shapes")
def test_scalar_files_decode_only_the_events_that_steer(tmp_path: Path) -> None:
    """A TF2 scalar run with a restart: the events decoded one by one are its file versions
    and session logs, not its scalars."""
    synth(tmp_path / "tf2", style="tf2", kinds="scalars", steps=500, runs=1, restart_at=200)
    files = sorted((tmp_path / "tf2").rglob("events.out.tfevents.*"))
    decoded = 0
    for path in files:
        kept = KeptFile(str(path), keep_one_tensor=False)
        kept.tensor_values(kept.series("tensors"))
        decoded += sum(len(c.events) for c in kept.chunks)
    assert len(files) == 2 and decoded <= 2 * len(files)


# -- generated event sequences --------------------------------------------------------------------
TAGS = ("a", "b", "t/text_summary")
_TEXT_META = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text")
)
_SCALAR_META = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
)


def _value(tag: str, kind: str, x: float, meta: bool) -> Any:
    v = summary_pb2.Summary.Value(tag=tag)
    if kind == "simple":
        v.simple_value = x
    elif kind == "histo":
        histo = histogram_pb2.HistogramProto(min=x, max=x + 1, num=2, sum=x, bucket=[1, 1])
        histo.bucket_limit.extend([x, x + 1])
        v.histo.CopyFrom(histo)
    elif kind == "text":
        v.tensor.CopyFrom(tensor_pb2.TensorProto(dtype=7, string_val=[f"x{x}".encode()]))
    else:
        v.tensor.CopyFrom(_tensor(x, [] if kind == "tensor" else [1]))
    if meta:
        v.metadata.CopyFrom(_TEXT_META if kind == "text" else _SCALAR_META)
    return v


_values = st.lists(
    st.tuples(
        st.sampled_from(TAGS),
        st.sampled_from(["simple", "histo", "tensor", "tensor1", "text"]),
        st.integers(0, 9).map(float),
        st.booleans(),
    ),
    min_size=0,
    max_size=3,
)
_event = st.one_of(
    st.tuples(st.just("version"), st.sampled_from(["brain.Event:2", "brain.Event:1", "x"])),
    st.tuples(st.just("session"), st.integers(-2, 5), st.sampled_from([1, 2])),  # START, STOP
    st.tuples(st.just("summary"), st.integers(-2, 5), _values),
    st.tuples(st.just("message"), st.integers(-2, 5)),
)


def _events(spec: list[tuple]) -> list[Any]:
    events = []
    for wall, item in enumerate(spec):
        if item[0] == "version":
            events.append(event_pb2.Event(wall_time=wall, file_version=item[1]))
        elif item[0] == "session":
            log = event_pb2.SessionLog(status=item[2])
            events.append(event_pb2.Event(wall_time=wall, step=item[1], session_log=log))
        elif item[0] == "summary":
            events.append(_summary(item[1], wall, [_value(*v) for v in item[2]]))
        else:
            message = event_pb2.LogMessage(level=20, message="m")
            events.append(event_pb2.Event(wall_time=wall, step=item[1], log_message=message))
    return events


V2 = [("version", "brain.Event:2")]
_A_0_TO_3 = [("summary", s, [("a", k, float(s), False) for k in ("simple", "tensor", "histo")])
             for s in range(4)]  # fmt: skip


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(head=st.sampled_from([[], V2]), spec=st.lists(_event, max_size=25))
@example(V2, [*_A_0_TO_3, ("session", 2, 1), ("summary", 2, [("a", "simple", 9.0, False)])])
@example([], [*_A_0_TO_3, ("summary", 3, [("a", "text", 1.0, True)])])
@example([], [*_A_0_TO_3, ("summary", 1, [("a", "simple", 1.0, False)])])
@example([], [("summary", -2, [("a", "simple", 1.0, False)]), *_A_0_TO_3])
@example(
    [],
    [
        *[
            ("summary", int(x[1:]), [(x[0], "simple", 1.0, False)])
            for x in ("a-1", "a-1", "b3", "b2")
        ]
    ],
)
@example(V2, [*_A_0_TO_3, ("version", "x"), ("summary", 1, [("b", "simple", 1.0, False)])])
@example(
    [], [("summary", 1, [("a", "text", 0.0, True)]), ("summary", 0, [("a", "simple", 0.0, False)])]
)
def test_generated_sequences_equal_per_event(tmp_path: Path, head: list, spec: list) -> None:
    path = _write(tmp_path / "gen" / "events.out.tfevents.1.host", _events([*head, *spec]))
    _compare(path, [(ALL, {"wall_time"}), ({"scalars", "text", "histograms"}, set())])
