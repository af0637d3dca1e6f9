"""Arrow arrays built from buffers (tbtool.columnar.arrow) equal what ``pa.array`` builds,
and never load pandas (30 MB of an export's 200 MB, issue 16)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from tbtool.columnar.arrow import booleans, from_python

CASES = [
    ([1, None, 3], pa.int64()),
    ([2**40, -1], pa.int64()),
    ([1, 2], pa.int32()),
    ([1.5, None, float("inf")], pa.float64()),
    (["a", None, "ü", ""], pa.string()),
    ([b"x", None, b"", b"\0\xff"], pa.binary()),
    ([[1.0, 2.0], None, []], pa.list_(pa.float64())),
    ([["a"], None, ["b", None]], pa.list_(pa.string())),
    ([[1], [2, 3], None], pa.list_(pa.int64())),
    ([True, None, False], pa.bool_()),
    ([None, None], pa.string()),
    ([], pa.string()),
    ([], pa.list_(pa.int64())),
]


@pytest.mark.parametrize(("values", "type_"), CASES)
def test_from_python_is_pa_array(values: list, type_: pa.DataType) -> None:
    built = from_python(values, type_)
    built.validate(full=True)
    assert built.equals(pa.array(values, type=type_))


def test_from_python_leaves_pandas_unloaded() -> None:
    code = (
        "import sys, pyarrow as pa; from tbtool.columnar.arrow import from_python; "
        "from_python(['a', None], pa.string()); from_python([[1.0]], pa.list_(pa.float64())); "
        "print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("mask", [[], [True], [True, False, True] * 5, [False] * 9])
def test_booleans_is_pa_array(mask: list) -> None:
    import numpy as np

    built = booleans(np.array(mask, dtype=bool))
    built.validate(full=True)
    assert built.equals(pa.array(mask, type=pa.bool_()))


def test_a_streamed_read_whose_restarts_erase_held_rows_leaves_pandas_unloaded(tmp_path) -> None:
    """Held-back rows that a later START erases are filtered with a mask built from buffers
    (``pa.array`` of the mask imported pandas into such exports)."""
    from test_restart_scan import _restart_logdir

    logdir = _restart_logdir(tmp_path)
    code = (
        "import sys; from tbtool.reading.log_reader import LogReader; "
        "from tbtool.reading.tables import iter_batches; "
        f"rows = sum(b.num_rows for _, b in iter_batches(LogReader({str(logdir)!r}), "
        "['scalars'], chunk_size=1024, hold=1 << 30)); "
        "print(rows, 'pandas' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )  # fmt: skip
    assert out.stdout.split() == [str(2 * 150 + 2 * 150 + 100 + 1), "False"]
