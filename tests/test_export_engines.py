"""The bulk decoder (C and pure Python) gives exactly what the per-event path gives.

Three ways to the same tables: the C extension, the pure-Python bulk decoder and the
per-event iterator (``LogReader.values``). They share these tests and must agree on every
fixture of every writer, on damaged files, and on generated events (hypothesis), including
errors, skipped records and how reading ended.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tbtool
from tbtool.columnar import native
from tbtool.columnar.index import COL_AUDIO, COL_HISTO, COL_IMAGE, COL_STRINGS
from tbtool.columnar.scan import FileScan
from tbtool.columnar.table_rows import TABLE_KINDS
from tbtool.errors import TbtoolError
from tbtool.format.record import RecordWriter
from tbtool.proto import event_pb2, summary_pb2, tensor_pb2
from tbtool.reading.frames import read_frame, to_frame
from tbtool.reading.log_reader import LogReader
from tbtool.reading.reader import StepRange
from tbtool.reading.tables import read_tables
from tbtool.sample import path as sample_logdir

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LOGDIRS = sorted(str(d / "logdir") for d in FIXTURES.iterdir() if (d / "logdir").is_dir())
KINDS = list(TABLE_KINDS)
needs_c = pytest.mark.skipif(not native.available(), reason="C extension not built")

ENGINES = ["events", "python", pytest.param("c", marks=needs_c)]


def tables(path, engine, monkeypatch, **options):
    """Tables of every kind, with the reader's problems and file states."""
    steps = options.pop("steps", None)
    monkeypatch.setenv("TBTOOL_PURE_PYTHON", "1" if engine == "python" else "0")
    reader = LogReader(path, **options)
    got = read_tables(
        reader, KINDS, steps=steps, engine="events" if engine == "events" else "batch"
    )
    status = {p: (s.events, s.state, s.end_offset) for p, s in sorted(reader.file_status.items())}
    return got, [str(p) for p in reader.problems], status


def assert_tables_equal(a: dict[str, pa.Table], b: dict[str, pa.Table]) -> None:
    assert a.keys() == b.keys()
    for kind in a:
        assert a[kind].schema == b[kind].schema, kind
        assert a[kind].to_pylist() == b[kind].to_pylist() or _nan_equal(a[kind], b[kind]), kind


def _nan_equal(a: pa.Table, b: pa.Table) -> bool:
    """Row equality where NaN equals NaN."""

    def norm(x):
        if isinstance(x, float) and math.isnan(x):
            return "NaN"
        if isinstance(x, list):
            return [norm(y) for y in x]
        if isinstance(x, dict):
            return {k: norm(v) for k, v in x.items()}
        return x

    return norm(a.to_pylist()) == norm(b.to_pylist())


@pytest.mark.parametrize("engine", ENGINES[1:])
@pytest.mark.parametrize(
    "logdir", [*LOGDIRS, str(sample_logdir())], ids=lambda p: Path(p).parent.name
)
def test_every_fixture_gives_the_same_tables(logdir, engine, monkeypatch):
    skip = "corrupt" in logdir
    for purge in (True, False):
        want = tables(logdir, "events", monkeypatch, purge=purge, skip_corrupt=skip)
        got = tables(logdir, engine, monkeypatch, purge=purge, skip_corrupt=skip)
        assert_tables_equal(got[0], want[0])
        assert got[1] == want[1]  # the same problems, in the same order
        assert got[2] == want[2]  # the same number of events and end state per file


@pytest.mark.parametrize("engine", ENGINES[1:])
def test_filters_give_the_same_tables(engine, monkeypatch):
    logdir = str(FIXTURES / "tf1_legacy" / "logdir")
    options = {"tags": ["loss", "notes", "images/*"], "steps": StepRange(2, 7)}
    want = tables(logdir, "events", monkeypatch, **dict(options))
    got = tables(logdir, engine, monkeypatch, **dict(options))
    assert_tables_equal(got[0], want[0])


@pytest.mark.parametrize("engine", ENGINES[1:])
def test_corrupt_files_raise_the_same_error(engine, monkeypatch):
    runs = sorted(p.name for p in (FIXTURES / "corrupt" / "logdir").iterdir())
    for run in runs:
        path = str(FIXTURES / "corrupt" / "logdir" / run)
        outcomes = []
        for e in ("events", engine):
            try:
                tables(path, e, monkeypatch)
                outcomes.append(None)
            except TbtoolError as error:
                outcomes.append((type(error), str(error)))
        assert outcomes[0] == outcomes[1], run


# -- the index itself: C and Python agree record by record -------------------------------------
def _index_rows(path: str, use_native: bool, chunk_size: int = 1 << 20):
    scan = FileScan(path, use_native=use_native, skip_corrupt=True, chunk_size=chunk_size)
    rows = []
    for chunk in scan:
        hist = np.flatnonzero(chunk.v_col == COL_HISTO)
        bounds = np.concatenate([[0], np.cumsum(chunk.h_count)])
        images = np.flatnonzero(chunk.v_col == COL_IMAGE)
        blobs = dict(zip(images.tolist(), chunk.image_blobs(images), strict=True))
        audio = np.flatnonzero(chunk.v_col == COL_AUDIO)
        parts = chunk.audio_parts(audio)
        clips = dict(zip(audio.tolist(), zip(*parts, strict=True), strict=True))
        texts = np.flatnonzero(chunk.v_col == COL_STRINGS)  # shape and strings; not where
        strings = dict(
            zip(
                texts.tolist(),
                zip(chunk.string_shapes(texts), chunk.strings(texts), strict=True),
                strict=True,
            )
        )
        for i in range(chunk.values):
            rec = int(chunk.v_rec[i])
            meta = chunk.metas[chunk.v_meta[i]] if chunk.v_meta[i] >= 0 else None
            meta = summary_pb2.SummaryMetadata.FromString(meta) if meta is not None else None
            h = None
            if chunk.v_col[i] == COL_HISTO:
                e = int(np.searchsorted(hist, i))
                h = (
                    [chunk.h_min[e], chunk.h_max[e], chunk.h_num[e], chunk.h_sum[e]],
                    chunk.h_sum_squares[e],
                    chunk.h_limits[bounds[e] : bounds[e + 1]].tolist(),
                    chunk.h_buckets[bounds[e] : bounds[e + 1]].tolist(),
                )
            scalar = chunk.v_scalar[i]
            image = None
            if chunk.v_col[i] == COL_IMAGE:  # where its bytes are differs: C knows, protobuf not
                e = int(np.searchsorted(images, i))
                size = (chunk.i_height[e], chunk.i_width[e], chunk.i_colorspace[e])
                image = (*map(int, size), int(chunk.i_length[e]), bytes(blobs[i]))
            if chunk.v_col[i] == COL_AUDIO:  # the same for a Summary.Audio
                e = int(np.searchsorted(audio, i))
                fields = (chunk.a_channels[e], chunk.a_frames[e], chunk.a_length[e])
                clip, content_type = clips[i]
                rate = repr(float(chunk.a_sample_rate[e]))
                image = (rate, *map(int, fields), bytes(clip), content_type)
            if chunk.v_col[i] == COL_STRINGS:
                image = strings[i]
            rows.append(
                (
                    int(chunk.r_index[rec]),
                    int(chunk.r_offset[rec]),
                    int(chunk.r_length[rec]),
                    repr(float(chunk.r_wall_time[rec])),
                    int(chunk.r_step[rec]),
                    int(chunk.r_what[rec]),
                    int(chunk.v_widx[i]),
                    chunk.tags[chunk.v_tag[i]],
                    meta if meta is not None and meta.ByteSize() else None,
                    int(chunk.v_oneof[i]),
                    int(chunk.v_col[i]),
                    "NaN" if math.isnan(scalar) else float(scalar),
                    repr(h),
                    image,
                )
            )
    return rows, scan.events, scan.state, [str(p) for p in scan.problems]


@needs_c
@pytest.mark.parametrize("logdir", LOGDIRS, ids=lambda p: Path(p).parent.name)
def test_c_and_python_index_every_file_alike(logdir):
    files = sorted(p for p in Path(logdir).rglob("*") if p.is_file() and "tfevents" in p.name)
    for path in files:
        assert _index_rows(str(path), True) == _index_rows(str(path), False), path
        # Small chunks: records cut at every possible chunk border.
        assert _index_rows(str(path), True, 64) == _index_rows(str(path), False, 97), path


# Generated events: every field the decoders know, in odd encodings too.
_floats = st.floats(width=32, allow_nan=True)
_tags = st.text(max_size=12)


@st.composite
def _tensor(draw):
    t = tensor_pb2.TensorProto(dtype=draw(st.sampled_from([0, 1, 2, 3, 7, 19, 100])))
    for size in draw(st.lists(st.integers(-1, 3), max_size=3)):
        t.tensor_shape.dim.add(size=size, name=draw(st.sampled_from(["", "n"])))
    t.tensor_shape.unknown_rank = draw(st.booleans()) and draw(st.booleans())
    choice = draw(st.integers(0, 5))
    if choice == 0:
        t.tensor_content = draw(st.binary(max_size=16))
    elif choice == 1:
        t.float_val.extend(draw(st.lists(_floats, max_size=3)))
    elif choice == 2:
        t.double_val.extend(draw(st.lists(st.floats(), max_size=3)))
    elif choice == 3:
        t.int_val.extend(draw(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=3)))
    elif choice == 4:
        t.string_val.extend(draw(st.lists(st.binary(max_size=5), max_size=3)))
    return t


# Strings a text tensor may hold: empty, NUL, non-ASCII, invalid UTF-8 (replaced when read).
_TEXT_BYTES = st.sampled_from(
    [b"", b"a", b"\x00", "ü *md*".encode(), b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80"]
)


@st.composite
def _string_tensor(draw):
    """DT_STRING tensors, mostly of the layout the index decodes (string_val listing every
    element of a known shape), sometimes padded, unknown or of another dtype."""
    shape = draw(st.lists(st.integers(0, 3), max_size=3))
    count = math.prod(shape)
    if draw(st.integers(0, 4)) == 0:  # not the plain layout: one string short or over
        count = max(0, count + draw(st.sampled_from([-1, 1])))
    t = tensor_pb2.TensorProto(dtype=draw(st.sampled_from([7, 7, 7, 1])))
    for size in shape:
        t.tensor_shape.dim.add(size=size, name=draw(st.sampled_from(["", "n"])))
    if draw(st.integers(0, 9)) == 0:
        t.tensor_shape.dim.add(size=-1)
    t.tensor_shape.unknown_rank = draw(st.integers(0, 9)) == 0
    t.string_val.extend(draw(st.lists(_TEXT_BYTES, min_size=count, max_size=count)))
    if draw(st.integers(0, 4)) == 0:  # other fields a string tensor ignores
        t.tensor_content = b"xy"
        t.float_val.append(1.0)
    return t


# A WAV header of 2 channels at 16 kHz, 16 bits, with 8 frames of data.
_WAV = (
    b"RIFF" + struct.pack("<I", 36 + 32) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 2, 16000,
    64000, 4, 16) + b"data" + struct.pack("<I", 32) + bytes(32)
)  # fmt: skip


@st.composite
def _value(draw):
    v = summary_pb2.Summary.Value(tag=draw(_tags))
    if draw(st.booleans()):
        v.node_name = draw(_tags)
    if draw(st.booleans()):
        v.metadata.plugin_data.plugin_name = draw(
            st.sampled_from(["", "scalars", "histograms", "text", "tensor", "hparams", "images"])
        )
        v.metadata.display_name = draw(st.text(max_size=3))
        v.metadata.data_class = draw(st.integers(0, 3))
    case = draw(st.integers(0, 7))
    if case == 1:
        v.simple_value = draw(_floats)
    elif case == 2:
        n = draw(st.integers(0, 4))
        v.histo.min, v.histo.max, v.histo.num = draw(st.floats()), draw(st.floats()), 3.0
        v.histo.bucket_limit.extend(draw(st.lists(st.floats(), min_size=n, max_size=n)))
        m = n if draw(st.booleans()) else draw(st.integers(0, 4))
        v.histo.bucket.extend(
            draw(st.lists(st.sampled_from([0.0, 1.0, 2.5, -0.0]), min_size=m, max_size=m))
        )
    elif case == 3:
        v.tensor.CopyFrom(draw(_tensor()))
    elif case == 4:  # sizes of any int32 (negative ones take 10 bytes), any bytes or none
        v.image.width = draw(st.integers(-(2**31), 2**31 - 1))
        v.image.height = draw(st.sampled_from([0, 3, 128, -1]))
        v.image.colorspace = draw(st.integers(0, 4))
        v.image.encoded_image_string = draw(
            st.sampled_from([b"", b"\x89PNG\r\n\x1a\n...", b"GIF89a", b"x" * 300])
        )
    elif case == 5:  # fields set or not (then the WAV header fills in), any bytes
        v.audio.sample_rate = draw(st.sampled_from([0.0, 8000.0, 44100.0, math.nan]))
        v.audio.num_channels = draw(st.sampled_from([0, 1, 2, -3]))
        v.audio.length_frames = draw(st.sampled_from([0, 5, 2**40]))
        v.audio.content_type = draw(st.sampled_from(["", "audio/wav", "audio/ä"]))
        v.audio.encoded_audio_string = draw(st.sampled_from([b"", b"RIFF....", _WAV, b"OggS"]))
    elif case == 6:
        v.obsolete_old_style_histogram = b"x"
    elif case == 7:  # text: its metadata on this value, an earlier one or none
        v.tensor.CopyFrom(draw(_string_tensor()))
        if draw(st.booleans()):
            v.metadata.plugin_data.plugin_name = "text"
    return v


@st.composite
def _event(draw):
    e = event_pb2.Event(wall_time=draw(st.floats()), step=draw(st.integers(-(2**63), 2**63 - 1)))
    what = draw(st.integers(0, 4))
    if what == 0:
        e.summary.value.extend(draw(st.lists(_value(), max_size=3)))
    elif what == 1:
        e.file_version = "brain.Event:2"
        e.source_metadata.writer = draw(st.text(max_size=4))
    elif what == 2:
        e.session_log.status = draw(st.integers(0, 3))
    elif what == 3:
        e.graph_def = b"graph"
    data = e.SerializeToString()
    if draw(st.integers(0, 9)) == 0:  # odd encodings: unknown field, repeated field, junk
        data += draw(st.sampled_from([b"\x58\x01", b"\x10\x05", b"\x2a\x00", b"\xff"]))
    return data


def _write(path: Path, payloads: list[bytes]) -> None:
    with RecordWriter(path) as w:
        for p in payloads:
            w.write(p)


@needs_c
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads=st.lists(_event(), max_size=8))
def test_generated_events_index_alike(tmp_path_factory, payloads):
    path = tmp_path_factory.mktemp("g") / "events.out.tfevents.1.h"
    _write(path, payloads)
    assert _index_rows(str(path), True) == _index_rows(str(path), False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads=st.lists(_event(), max_size=8), purge=st.booleans())
# As many values as records, first and last in place, but not one per record: the batch
# path once took record columns for value columns and gave the scalar the graph's step 0.
@example(
    payloads=[
        b"\x10\x01*\x0b\n\x00\n\x00\n\x05\x15\x00\x00\x00\x00",
        b'"\x05graph',
        b'"\x05graph',
        b"*\x00",
        b"*\x06\n\x00\n\x00\n\x00X\x01",
    ],
    purge=False,
)
def test_generated_events_give_the_same_tables(tmp_path_factory, payloads, purge):
    path = tmp_path_factory.mktemp("g") / "events.out.tfevents.1.h"
    start = event_pb2.Event(step=1, session_log=event_pb2.SessionLog(status=1))
    _write(path, [*payloads[:4], start.SerializeToString(), *payloads[4:]])
    with pytest.MonkeyPatch.context() as mp:
        want = tables(str(path), "events", mp, purge=purge, skip_corrupt=True)
        for engine in ("python", "c") if native.available() else ("python",):
            assert_tables_equal(
                tables(str(path), engine, mp, purge=purge, skip_corrupt=True)[0], want[0]
            )


@pytest.mark.parametrize("categorical", [True, False])
def test_scalar_frame_is_identical_across_engines(monkeypatch, categorical):
    logdir = str(FIXTURES / "torch_purge" / "logdir")
    frames = []
    for engine, pure in (("events", "0"), ("auto", "1"), ("auto", "0")):
        monkeypatch.setenv("TBTOOL_PURE_PYTHON", pure)
        frames.append(tbtool.read_scalars(logdir, engine=engine, categorical=categorical))
    for frame in frames[1:]:
        pd.testing.assert_frame_equal(frame, frames[0])
    names = "category" if categorical else "string"
    assert list(frames[0].dtypes.astype(str)) == [names, names, "int64", "float64", "float64"]
    if categorical:  # the names the rows use, sorted (as astype("category") gives them)
        for column in ("run", "tag"):
            categories = list(frames[0][column].cat.categories)
            assert categories == sorted(set(frames[0][column].astype(str)))


@pytest.mark.parametrize("kind", KINDS)
def test_frames_equal_the_tables_they_come_from(kind):
    """``read_*`` builds its frame from the columns without copying the numbers; the frame
    is the one ``to_frame`` makes of ``read_table``'s table, and every column is writable."""
    for logdir in LOGDIRS:
        frame = read_frame(logdir, kind, skip_corrupt=True)
        table = tbtool.read_table(logdir, kind, skip_corrupt=True)
        pd.testing.assert_frame_equal(frame, to_frame(table))
        plain = read_frame(logdir, kind, categorical=False, skip_corrupt=True)
        for column in ("run", "tag"):
            if column in frame.columns:
                assert list(plain[column]) == list(frame[column].astype(object)), logdir
        for name in frame.columns:
            if len(frame) and frame[name].dtype.kind in "if":
                frame.loc[0, name] = 1  # in place: the numbers are the frame's own


@pytest.mark.parametrize("engine", ENGINES)
def test_values_of_records_without_values_keep_their_steps(engine, tmp_path, monkeypatch):
    """As many values as records, but not one per record (two in the first, none in the
    second): each value keeps its own record's step (equal counts once passed for one value
    per record, and the second value took the second record's step)."""

    def event(step, *tags):
        e = event_pb2.Event(step=step, wall_time=float(step))
        e.summary.SetInParent()
        for tag in tags:
            e.summary.value.add(tag=tag, simple_value=1.0)
        return e.SerializeToString()

    path = tmp_path / "events.out.tfevents.1.h"
    _write(path, [event(1, "a", "b"), event(2), event(3, "c")])
    got = tables(str(path), engine, monkeypatch)[0]["scalars"].to_pylist()
    assert [(r["tag"], r["step"], r["wall_time"]) for r in got] == [
        ("a", 1, 1.0),
        ("b", 1, 1.0),
        ("c", 3, 3.0),
    ]


def test_large_records_and_truncated_tail(tmp_path, monkeypatch):
    """Records larger than a read chunk, and a file cut inside its last record."""
    big = summary_pb2.Summary.Value(tag="big", tensor=tensor_pb2.TensorProto(dtype=7))
    big.tensor.string_val.append(b"x" * 100_000)
    big.metadata.plugin_data.plugin_name = "text"
    payloads = [
        event_pb2.Event(step=i, summary=summary_pb2.Summary(value=[big])).SerializeToString()
        for i in range(3)
    ]
    path = tmp_path / "events.out.tfevents.1.h"
    _write(path, payloads)
    data = path.read_bytes()
    path.write_bytes(data + struct.pack("<Q", 5)[:6])
    for engine in ("python", "c") if native.available() else ("python",):
        got = tables(str(path), engine, monkeypatch)
        want = tables(str(path), "events", monkeypatch)
        assert_tables_equal(got[0], want[0])
        assert got[2] == want[2]
        assert got[0]["text"].num_rows == 3


@pytest.mark.parametrize("kind", ["images", "audio", "text"])
@pytest.mark.parametrize("fixture", ["torch_all", "tbx_all", "tf2_all", "tf1_legacy"])
def test_media_in_bulk_equal_the_events_engine(fixture, kind, monkeypatch):
    """Summary.Image and Summary.Audio values come from the index (their fields, and their
    bytes sliced where they lie), tensor images and audio one by one, merged in read
    order; text from the index's string tensors; read in worker processes, a chunk's index
    travels without its buffer and keeps those records' payloads."""
    logdir = str(FIXTURES / fixture / "logdir")
    want = read_frame(logdir, kind, engine="events")
    assert len(want)
    for engine in ("python", "c") if native.available() else ("python",):
        monkeypatch.setenv("TBTOOL_PURE_PYTHON", "1" if engine == "python" else "0")
        for jobs in (1, 2):
            pd.testing.assert_frame_equal(read_frame(logdir, kind, jobs=jobs), want)


def _text_value(tag, strings, shape, metadata=True, dtype=7):
    v = summary_pb2.Summary.Value(tag=tag)
    v.tensor.dtype = dtype
    for size in shape:
        v.tensor.tensor_shape.dim.add(size=size)
    v.tensor.string_val.extend(strings)
    if metadata:
        v.metadata.plugin_data.plugin_name = "text"
    return v


def _text_logdir(root: Path) -> Path:
    """A run of text in every layout the writers use and a few they do not: rank 0 and [1]
    strings, 2-D tables, empty strings and tables, NUL, invalid UTF-8, a padded tensor and
    one of unknown rank (decoded one by one), a tag whose metadata comes later, string
    tensors of other plugins, a restart that erases steps, and a damaged last record."""
    run = root / "run"
    with tbtool.SummaryWriter(run) as w:
        for step in range(40):
            w.add_text("notes", f"step {step}: *ok* ü", step)
    values = [
        (_text_value("t", [b"scalar"], []), 1),
        (_text_value("t", [b""], [1]), 2),
        (_text_value("t", [b"\x00nul\x00"], [1, 1]), 3),
        (_text_value("t", [b"bad \xff\xfe utf-8", b"\xed\xa0\x80"], [2]), 4),
        (_text_value("table", [b"a", b"b", b"c", b"d", b"e", b"\xc3\xa9"], [3, 2]), 5),
        (_text_value("table", [], [0, 3]), 6),
        (_text_value("table", [b"x"], [2, 2]), 7),  # padded: decoded one by one
        (_text_value("late", [b"before its metadata"], [], metadata=False), 8),
        (_text_value("late", [b"after"], []), 9),
        (_text_value("late", [b"again"], [], metadata=False), 10),
        (_text_value("img", [b"2", b"1", b"\x89PNG"], [3], metadata=False), 11),
    ]
    unknown = _text_value("t", [b"u1", b"u2"], [2])
    unknown.tensor.tensor_shape.unknown_rank = True
    values.append((unknown, 12))
    payloads = []
    for value, step in values:
        e = event_pb2.Event(step=step, wall_time=1.7e9 + step)
        e.summary.value.append(value)
        payloads.append(e.SerializeToString())
    restart = event_pb2.Event(step=7, session_log=event_pb2.SessionLog(status=1))
    payloads.append(restart.SerializeToString())  # erases steps >= 7 before it
    e = event_pb2.Event(step=8, wall_time=1.7e9 + 20)
    e.summary.value.append(_text_value("t", [b"after the restart", b"2"], [1, 2]))
    payloads.append(e.SerializeToString())
    path = run / "events.out.tfevents.1700000001.raw"
    _write(path, payloads)
    with open(path, "ab") as f:  # a record cut short
        f.write(struct.pack("<Q", 100) + b"\x00" * 10)
    return root


def test_text_in_bulk_equals_the_events_engine(tmp_path, monkeypatch):
    """Text from the index (both decoders, in one process and in workers) gives exactly the
    rows the per-event path gives, with and without purge, for every layout and damage."""
    logdir = str(_text_logdir(tmp_path))
    for purge in (True, False):
        want = read_frame(logdir, "text", engine="events", purge=purge, skip_corrupt=True)
        assert len(want) > 40
        for engine in ("python", "c") if native.available() else ("python",):
            monkeypatch.setenv("TBTOOL_PURE_PYTHON", "1" if engine == "python" else "0")
            for jobs in (1, 2):
                got = read_frame(logdir, "text", jobs=jobs, purge=purge, skip_corrupt=True)
                pd.testing.assert_frame_equal(got, want)
    texts = set(want["text"])
    assert {"", "\x00nul\x00", '[["a", "b"], ["c", "d"], ["e", "é"]]', "[]"} <= texts
    assert '["bad \ufffd\ufffd utf-8", "\ufffd\ufffd\ufffd"]' in texts


@pytest.mark.parametrize("kinds", [["text"], None])
def test_text_values_from_the_index_equal_the_events_engine(kinds, tmp_path, monkeypatch):
    """LogReader.values() (what dump and ls show) builds typed text from the index too: the
    same strings, shapes, places and plugin names as decoding each event."""
    logdir = str(_text_logdir(tmp_path))

    def read(engine):
        reader = LogReader(logdir, skip_corrupt=True)
        return [
            (v.run, v.offset, v.index, v.step, v.wall_time, v.tag, v.kind, v.plugin_name,
             v.value.array.shape if v.kind == "text" else None,
             v.value.to_json() if v.kind == "text" else None)
            for v in reader.values(kinds, engine=engine)
        ]  # fmt: skip

    want = read("events")
    assert sum(1 for v in want if v[6] == "text") > 40
    for engine in ("python", "c") if native.available() else ("python",):
        monkeypatch.setenv("TBTOOL_PURE_PYTHON", "1" if engine == "python" else "0")
        assert read("batch") == want


@pytest.mark.parametrize("style", ["torch", "tensorboardx", "tf2", "faults"])
def test_synth_text_in_bulk_equals_the_events_engine(style, tmp_path, monkeypatch):
    """Text of every synth style (restarts; and damage of every kind in "faults") reads the
    same in every engine."""
    from tbtool.ops.synth.generate import synth

    if style == "faults":
        faults = ["bitflip", "length", "truncate", "garbage"]
        synth(tmp_path, kinds="text", steps=400, runs=len(faults), restart_at=150, corrupt=faults)
    else:
        synth(tmp_path, style=style, kinds="text", steps=400, runs=2, restart_at="50%")
    want = read_frame(str(tmp_path), "text", engine="events", skip_corrupt=True)
    assert len(want) >= 20  # synth writes 10 text values a run
    for engine in ("python", "c") if native.available() else ("python",):
        monkeypatch.setenv("TBTOOL_PURE_PYTHON", "1" if engine == "python" else "0")
        got = read_frame(str(tmp_path), "text", skip_corrupt=True)
        pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize("engine", ENGINES[1:])
def test_text_comes_from_the_index(engine, tmp_path, monkeypatch):
    """Both decoders index plain string tensors (COL_STRINGS: shape and strings) and the
    assembler takes text from there, not from decoding each event; a padded tensor, one of
    unknown rank and a string tensor of another plugin stay with the general decoder."""
    from tbtool.columnar.assemble import RunAssembler

    monkeypatch.setenv("TBTOOL_PURE_PYTHON", "1" if engine == "python" else "0")
    path = _text_logdir(tmp_path) / "run" / "events.out.tfevents.1700000001.raw"
    (chunk,) = FileScan(str(path), use_native=engine == "c", skip_corrupt=True)
    rows = np.flatnonzero(chunk.v_col == COL_STRINGS)
    assert len(rows) == 11  # all but the padded one and the one of unknown rank
    assert chunk.string_shapes(rows[4:6]) == [(3, 2), (0, 3)]
    assert chunk.strings(rows[3:4]) == [[b"bad \xff\xfe utf-8", b"\xed\xa0\x80"]]
    piece = RunAssembler("run", {"text"}).feed(0, chunk)
    # Text of the plain layout under the text plugin's metadata: from the index; the padded
    # table and the tensor of unknown rank are decoded one by one ("late" before its
    # metadata and "img" are tensors, not text, and not asked for).
    assert len(piece.text["row"]) == 9
    assert piece.text["text"][:2] == ["scalar", ""]
    assert [v.value.strings for v in piece.values] == [["x", "x", "x", "x"], ["u1", "u2"]]
    if engine == "c":  # typed values too: only those two records' events were decoded
        (chunk,) = FileScan(str(path), use_native=True, skip_corrupt=True)
        block = RunAssembler("run", {"text"}).block(0, chunk)
        assert len(block.items) == 11
        assert sorted(chunk.events) == [6, 11]


@needs_c
@settings(max_examples=200, deadline=None)
@given(
    histograms=st.lists(
        st.lists(st.sampled_from([0.0, -0.0, 1.0, 2.5, math.nan]), max_size=6), max_size=6
    ),
    pick=st.lists(st.integers(0, 5), max_size=8),
)
def test_histogram_rows_in_c_equal_numpy(histograms, pick):
    """The C extension's histogram_rows and the numpy rule trim and edge rows alike (NaN
    counts as not empty, -0.0 as empty), for any entries in any order."""
    from types import SimpleNamespace

    from tbtool.columnar.assemble import _histogram_rows

    counts = np.array([len(h) for h in histograms], dtype=np.int64)
    buckets = np.array([b for h in histograms for b in h], dtype=np.float64)
    limits = np.arange(len(buckets), dtype=np.float64) + 0.5
    chunk = SimpleNamespace(
        h_count=counts,
        h_buckets=buckets,
        h_limits=limits,
        h_min=-np.arange(len(counts), dtype=np.float64),
        h_max=np.arange(len(counts), dtype=np.float64) * 10,
    )
    entries = np.array([p for p in pick if p < len(counts)], dtype=np.int64)
    parts = native.module().histogram_rows(
        chunk.h_limits, chunk.h_buckets, chunk.h_count, chunk.h_min, chunk.h_max, entries
    )
    got = [np.frombuffer(p, dtype=np.int64 if i == 0 else np.float64) for i, p in enumerate(parts)]
    want = _histogram_rows(chunk, entries)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
