"""Tables read whole (``tbtool.columnar.whole``): columns grown in place with the C
extension's block or pure-Python segments give the same arrays; names become the smallest
codes into their sorted names; rows a later restart erases are removed in place; and
``read_*`` frames hold each row once (their numbers are their own, writable)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_restart_scan import _restart_logdir

from tbtool.columnar import native, whole
from tbtool.reading.frames import read_frame, to_frame
from tbtool.reading.log_reader import LogReader
from tbtool.reading.tables import collect_tables, read_tables

needs_c = pytest.mark.skipif(not native.available(), reason="C extension not built")
BACKENDS = ["python", pytest.param("c", marks=needs_c)]


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    """The growing column's backend; tiny segments, so that rows cross their ends (the
    same for every generated case: the test builds its own column each time)."""
    monkeypatch.setenv("TBTOOL_PURE_PYTHON", "1" if request.param == "python" else "0")
    monkeypatch.setattr(whole, "FIRST_SEGMENT_ROWS", 3)
    monkeypatch.setattr(whole, "SEGMENT_BYTES", 40)  # 5 int64 rows at most
    return request.param


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    parts=st.lists(st.lists(st.integers(-(2**40), 2**40), max_size=12), max_size=8),
    fills=st.lists(st.tuples(st.integers(-5, 5), st.integers(0, 9)), max_size=3),
    keep_seed=st.integers(0, 2**32 - 1),
    start_share=st.floats(0, 1),
)
def test_growing_column_is_a_list_that_grows(backend, parts, fills, keep_seed, start_share):
    column = whole.GrowingColumn(np.int64)
    model: list[int] = []
    for i, part in enumerate(parts):
        column.append(np.array(part, dtype=np.int64))
        model += part
        if i < len(fills):
            value, n = fills[i]
            column.fill(value, n)
            model += [value] * n
    assert column.rows == len(model)
    start = int(start_share * len(model))
    keep = np.random.default_rng(keep_seed).random(len(model) - start) < 0.6
    assert column.read(start, len(model)).tolist() == model[start:]
    column.compact(start, keep)
    model = model[:start] + [x for x, k in zip(model[start:], keep, strict=True) if k]
    column.append(np.array([7, 8], dtype=np.int64))  # and grows on after compacting
    model += [7, 8]
    out = column.finish()
    assert out.tolist() == model
    assert out.flags.writeable


def test_names_take_the_smallest_codes_and_sort(backend):
    names = whole.NameColumn()
    names.append(pa.array(["b", "a", "b"]))
    batch_names = [f"t{i:05d}" for i in range(300)]  # past int8: the codes widen
    names.append(pa.DictionaryArray.from_arrays(pa.array([299, 0, 5], pa.int32()), batch_names))
    codes, kept = names.finish()
    assert kept == sorted({"a", "b", "t00299", "t00000", "t00005"})  # only names rows use
    assert codes.dtype == np.int8  # 5 names fit again
    assert [kept[c] for c in codes] == ["b", "a", "b", "t00299", "t00000", "t00005"]
    many = whole.NameColumn()
    many.append(pa.array([f"n{i}" for i in range(40_000)]))
    codes, kept = many.finish()
    assert codes.dtype == np.int32 and len(kept) == 40_000


def test_a_number_column_that_meets_nulls_keeps_them(backend):
    builder = whole.TableBuilder(pa.schema([("width", pa.int64())]))
    builder.append(pa.record_batch([pa.array([1, 2])], names=["width"]))
    builder.append(pa.record_batch([pa.array([None, 4])], names=["width"]))
    (column,) = builder.finish().columns
    assert column.to_pylist() == [1, 2, None, 4]


@pytest.mark.parametrize("categorical", [True, False])
def test_late_restarts_are_removed_in_place(tmp_path, backend, categorical):
    """Rows of earlier chunks a START erases (mid-file and in a later file, out of order),
    read into whole tables chunk by small chunk, equal the events engine's."""
    logdir = _restart_logdir(tmp_path)
    want = read_tables(LogReader(logdir), ["scalars"], engine="events")["scalars"]
    for chunk_size in (256, 4096, 1 << 22):
        got = collect_tables(LogReader(logdir), ["scalars"], chunk_size=chunk_size)
        table = got["scalars"].table()
        assert table.to_pylist() == want.to_pylist(), chunk_size
    frame = read_frame(logdir, categorical=categorical)
    assert frame["step"].tolist() == want.column("step").to_pylist()


def test_a_frame_holds_each_row_once(tmp_path):
    """The frame's numbers are the columns the read built (no copy), and its own: pandas
    writes to them in place."""
    logdir = _restart_logdir(tmp_path)
    frame = read_frame(logdir)
    table = to_frame(read_tables(LogReader(logdir), ["scalars"])["scalars"])
    pd.testing.assert_frame_equal(frame, table)
    for name in ("step", "wall_time", "value"):
        frame.loc[0, name] = -1
        assert frame.loc[0, name] == -1
    assert frame["tag"].cat.codes.dtype == np.int8
