"""Arrow arrays built from buffers (tbtool.columnar.arrow) equal what ``pa.array`` builds,
and never load pandas (30 MB of an export's 200 MB, issue 16)."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pytest

from tbtool.columnar.arrow import from_python

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
