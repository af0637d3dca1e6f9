"""No size or count read from a file drives an allocation beyond a bound from the record's
own size (contract.md, data safety; issue 17, item 2)."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tbtool import limits, storage
from tbtool.cli import app
from tbtool.proto import event_pb2, summary_pb2, tensor_pb2
from tbtool.record import RecordWriter
from tbtool.tensor import TensorTooLarge, decode_tensor

FILE_NAME = "events.out.tfevents.1700000000.crafted"
DT_FLOAT, DT_DOUBLE, DT_STRING = 1, 2, 7
BIG_STRING = b"x" * 100_000


def _tensor(dtype: int, dims: list[int], **fields) -> tensor_pb2.TensorProto:
    tensor = tensor_pb2.TensorProto(dtype=dtype, **fields)
    for size in dims:
        tensor.tensor_shape.dim.add(size=size)
    return tensor


def _value(plugin: str = "", **oneof) -> summary_pb2.Summary.Value:
    value = summary_pb2.Summary.Value(tag="hazard", **oneof)
    if plugin:
        value.metadata.plugin_data.plugin_name = plugin
    return value


@dataclass(frozen=True)
class Hazard:
    """One crafted record: the summary value it holds (or raw bytes after the good records),
    the ``validate`` finding it gives (``None``: none), and whether tbparse's drop-in keeps
    the encoded bytes of its image/audio instead of decoding them."""

    value: Callable[[], summary_pb2.Summary.Value] | None
    code: str | None
    severity: str = "error"
    raw_tail: Callable[[], bytes] | None = None
    media_kept_encoded: str | None = None


def write_hazard(directory: Path, hazard: Hazard) -> tuple[Path, int]:
    """A run holding a file_version, a good scalar and the hazard; ``(file, hazard offset)``."""
    path = directory / "run" / FILE_NAME
    path.parent.mkdir(parents=True)
    good = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="loss", simple_value=0.5)])
    with RecordWriter(path) as w:
        w.write(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        w.write(event_pb2.Event(wall_time=2.0, step=1, summary=good).SerializeToString())
        offset = w.offset
        if hazard.value is not None:
            summary = summary_pb2.Summary(value=[hazard.value()])
            event = event_pb2.Event(wall_time=3.0, step=2, summary=summary)
            w.write(event.SerializeToString())
    if hazard.raw_tail is not None:
        with open(path, "ab") as f:
            f.write(hazard.raw_tail())
    return path, offset


# -- the limit itself ---------------------------------------------------------------------------
def test_padded_strings_count_their_length_per_element():
    """2,000 copies of a 100 kB string are 200 MB however small the padded array."""
    few = _tensor(DT_STRING, [100], string_val=[BIG_STRING])
    array, _ = decode_tensor(few)
    assert array.shape == (100,) and array[-1] == BIG_STRING
    with pytest.raises(TensorTooLarge, match=r"string tensor of shape \[2000\]"):
        decode_tensor(_tensor(DT_STRING, [2000], string_val=[BIG_STRING]))


def test_the_allowance_grows_with_the_tensors_size():
    limit = limits.value_limit(0)
    assert limit == limits.DEFAULT_MAX_VALUE_BYTES == 16 << 20
    # 4 MiB of content padded by 4 MiB more: within 16 MiB + 1024 per byte.
    tensor = _tensor(DT_FLOAT, [2 << 20], float_val=np.ones(1 << 20, np.float32).tolist())
    array, _ = decode_tensor(tensor)
    assert array.shape == (2 << 20,) and float(array.sum()) == 2 << 20


LARGE = _tensor(DT_FLOAT, [5_000_000], float_val=[2.0])  # 20 MB from 17 bytes


def test_the_allowance_is_configurable(monkeypatch):
    with pytest.raises(TensorTooLarge, match=r"more than the 16794624 allowed for its 17 bytes"):
        decode_tensor(LARGE)
    monkeypatch.setenv(limits.ENV_VAR, "64MiB")
    assert limits.max_value_bytes() == 64 << 20
    array, _ = decode_tensor(LARGE)
    assert array.shape == (5_000_000,) and array[-1] == 2.0
    monkeypatch.setattr(limits, "MAX_VALUE_BYTES", 1 << 20)  # a program's setting wins
    with pytest.raises(TensorTooLarge, match=r"more than the 1065984 allowed"):
        decode_tensor(LARGE)


def test_commands_honour_the_variable_and_reject_a_bad_one(tmp_path):
    _, offset = write_hazard(tmp_path, Hazard(lambda: _value(tensor=LARGE), None))
    runner = CliRunner()
    capped = runner.invoke(app, ["validate", str(tmp_path), "--format", "json"])
    assert capped.exit_code == 1
    (finding,) = json.loads(capped.stdout)["findings"]
    assert (finding["code"], finding["offset"]) == ("value-too-large", offset)
    assert f"raise {limits.ENV_VAR}" in finding["message"]
    raised = runner.invoke(app, ["validate", str(tmp_path)], env={limits.ENV_VAR: "1GB"})
    assert raised.exit_code == 0, raised.stdout
    dump = runner.invoke(app, ["dump", str(tmp_path)], env={limits.ENV_VAR: "1GB"})
    assert "tensor float32[5000000]" in dump.stdout
    bad = runner.invoke(app, ["dump", str(tmp_path)], env={limits.ENV_VAR: "lots"})
    assert bad.exit_code == 2
    assert bad.stderr == (
        f"tbtool: error: {limits.ENV_VAR}: 'lots' is not a size like 500MB, 1.5GiB, 64k or "
        "1000000\n"
    )


def test_a_read_allocates_no_more_than_the_file_holds(tmp_path):
    """A record length from the file asks for up to 2 GiB; the buffer is what is there."""
    path = tmp_path / FILE_NAME
    path.write_bytes(bytes(100))
    with storage.open_input(path) as f:
        f.read(10)
        tracemalloc.start()
        try:
            data = f.read(2**31)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert data == bytes(90) and f.read(2**31) == b""
    assert peak < 1 << 16
