"""Images and audio clips (``tbtool.columnar.blobs``): slices of the read buffers until they
are copied once, into a whole table's segments or a chunk's Arrow array. Whatever the path
(whole or streamed, C or pure Python, one process or workers, restarts erasing earlier
images), the rows equal the events engine's, and a DataFrame holds them as
``binary[pyarrow]`` whose items are ``bytes``."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tbtool
from tbtool.columnar import blobs
from tbtool.columnar.blobs import BlobColumn, Blobs
from tbtool.format.record import RecordWriter
from tbtool.proto import event_pb2, summary_pb2
from tbtool.reading.log_reader import LogReader
from tbtool.reading.tables import collect_tables, iter_batches, read_tables


def _png(seed: int) -> bytes:
    """A real PNG (Pillow), different per seed, some kilobytes long."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _image(step: int, tag: str = "im") -> bytes:
    image = summary_pb2.Summary.Image(
        height=32, width=32, colorspace=3, encoded_image_string=_png(step)
    )
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, image=image)])
    return event_pb2.Event(step=step, wall_time=float(step), summary=summary).SerializeToString()


def _start(step: int) -> bytes:
    log = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
    return event_pb2.Event(step=step, wall_time=1e6, session_log=log).SerializeToString()


def _write(path, payloads) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with RecordWriter(str(path)) as writer:
        for payload in payloads:
            writer.write(payload)


def _restarted_images(root):
    """Two runs of images: a START mid-file erasing earlier images, and one in a second
    file erasing images of the first."""
    _write(
        root / "a" / "events.out.tfevents.1",
        [*map(_image, range(60)), _start(20), *map(_image, range(20, 40))],
    )
    _write(root / "b" / "events.out.tfevents.1", [_image(s, "x") for s in range(30)])
    _write(root / "b" / "events.out.tfevents.2", [_start(10), _image(10, "x")])
    return root


@pytest.fixture(params=["python", "c"])
def decoder(request, monkeypatch):
    monkeypatch.setenv("TBTOOL_PURE_PYTHON", "1" if request.param == "python" else "0")
    return request.param


def test_whole_reads_of_restarted_images_equal_the_events_engine(tmp_path, decoder, monkeypatch):
    logdir = _restarted_images(tmp_path)
    want = read_tables(LogReader(logdir), ["images"], engine="events")["images"]
    assert want.num_rows == 20 + 20 + 10 + 1
    monkeypatch.setattr(blobs, "FIRST_SEGMENT", 4096)  # rows cross segment ends
    monkeypatch.setattr(blobs, "LAST_SEGMENT", 16384)
    for chunk_size in (2048, 50_000, 1 << 22):
        got = collect_tables(LogReader(logdir), ["images"], chunk_size=chunk_size)["images"]
        assert got.table().to_pylist() == want.to_pylist(), chunk_size
    for hold in (None, 0, 1 << 30):
        batches = [
            b for _, b in iter_batches(LogReader(logdir), ["images"], chunk_size=4096, hold=hold)
        ]
        assert pa.Table.from_batches(batches).to_pylist() == want.to_pylist(), hold


def test_a_frame_holds_images_as_arrow_binary(tmp_path, decoder):
    logdir = _restarted_images(tmp_path)
    frame = tbtool.read_images(logdir)
    assert str(frame.dtypes["data"]) == "binary[pyarrow]"
    assert isinstance(frame["data"].iloc[0], bytes)
    assert frame["data"].iloc[0] == _png(0)
    assert frame["data"].map(len).tolist() == [len(_png(s)) for s in frame["step"]]
    assert frame.memory_usage(deep=True)["data"] >= sum(frame["data"].map(len))
    pd.testing.assert_frame_equal(frame, tbtool.read_images(logdir, engine="events"))


def test_workers_give_the_same_images(tmp_path):
    logdir = _restarted_images(tmp_path)
    want = tbtool.read_images(logdir, jobs=1)
    pd.testing.assert_frame_equal(tbtool.read_images(logdir, jobs=2), want)


def test_blobs_pickle_as_one_arrow_array():
    buffer = np.frombuffer(b"abcdefghij" * 10, dtype=np.uint8)
    view = memoryview(buffer)
    parts = Blobs([view[0:3], view[10:10], b"xyz", view[95:100]])
    assert list(parts) == [b"abc", b"", b"xyz", b"fghij"]
    assert pickle.loads(pickle.dumps(parts)).to_pylist() == list(parts)
    assert parts.heads() == list(parts) and parts.sizes() == [3, 0, 3, 5]


@settings(max_examples=80, deadline=None)
@given(
    chunks=st.lists(st.lists(st.binary(max_size=40), max_size=6), max_size=6),
    start_share=st.floats(0, 1),
    keep_seed=st.integers(0, 2**32 - 1),
    as_arrow=st.booleans(),
)
def test_blob_column_is_a_list_that_grows(chunks, start_share, keep_seed, as_arrow):
    saved = blobs.FIRST_SEGMENT, blobs.LAST_SEGMENT
    blobs.FIRST_SEGMENT, blobs.LAST_SEGMENT = 16, 64  # blobs cross segments, some own one
    try:
        column = BlobColumn()
        model: list[bytes] = []
        for chunk in chunks:
            column.append(pa.array(chunk, pa.binary()) if as_arrow else Blobs(chunk))
            model += chunk
        assert column.rows == len(model)
        start = int(start_share * len(model))
        keep = np.random.default_rng(keep_seed).random(len(model) - start) < 0.5
        column.compact(start, keep)
        model = model[:start] + [b for b, k in zip(model[start:], keep, strict=True) if k]
        column.append(Blobs([b"after"]))
        model.append(b"after")
        assert column.rows == len(model)
        out = column.finish()
        assert out.type == pa.binary() and out.to_pylist() == model
    finally:
        blobs.FIRST_SEGMENT, blobs.LAST_SEGMENT = saved
