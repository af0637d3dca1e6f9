"""Every real writer's fixture reads as TensorBoard's own loaders read it.

``fixtures/<name>/expected.json`` was written by TensorBoard 2.21's loaders (see
fixtures/README.md). Here tbtool reads the same logdirs and every summary value is compared,
in order, with what ``EventFileLoader`` (data_compat + dataclass_compat) produced.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from functools import cache
from pathlib import Path

import numpy as np
import pytest

import tbtool
from tbtool.reading.log_reader import LogReader
from tbtool.values.typed import (
    EVENT_KINDS,
    Audio,
    CustomScalars,
    Graph,
    Histogram,
    HParams,
    Image,
    Mesh,
    PrCurve,
    RunMetadata,
    Scalar,
    Tensor,
    Text,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
WRITER_FIXTURES = sorted(
    d.name for d in FIXTURES.iterdir() if (d / "expected.json").exists() and d.name != "corrupt"
)


@cache
def expected(name: str) -> dict:
    return json.loads((FIXTURES / name / "expected.json").read_text())


def logdir(name: str) -> str:
    return str(FIXTURES / name / "logdir")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_number(x):
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(x, x)


def blob_matches(data: bytes, described) -> bool:
    if isinstance(described, dict):
        return sha(data) == described["sha256"] and len(data) == described["len"]
    return data.decode("utf-8") == described


def loaded_values(name: str, run: str, basename: str) -> list[dict]:
    """TensorBoard's summary values of one file, in order, with step and wall time.

    EventFileLoader sees each event alone; TensorBoard's accumulators then use the first
    metadata of a tag for all its values (format.md §3.1), which matters where TF1's
    FileWriter stripped later metadata. That rule is applied here too."""
    file = expected(name)["runs"][run]["files"][basename]
    first: dict[str, dict] = {}
    out = []
    for event in file["loaded"]["events"]:
        for value in event.get("values", []):
            if value["oneof"] == "none":  # a value holding nothing (torch add_video bug)
                continue
            if value["has_metadata"]:
                first.setdefault(value["tag"], value)
            elif value["tag"] in first:
                meta = first[value["tag"]]
                value = {**value, "plugin_name": meta["plugin_name"]}
                value["data_class"] = meta["data_class"]
            out.append({**value, "step": event["step"], "wall_time": event["wall_time"]})
    return out


def our_values(name: str) -> dict[tuple[str, str], list]:
    grouped: dict[tuple[str, str], list] = {}
    for item in LogReader(logdir(name), purge=False).values():
        if item.kind in EVENT_KINDS or item.tag == "__meta_graph__":
            continue  # TensorBoard's loader turns neither into a summary value
        grouped.setdefault((item.run, os.path.basename(item.file)), []).append(item)
    return grouped


def assert_same_value(item, exp: dict) -> None:
    value, plugin = item.value, exp.get("plugin_name", "")
    where = f"{item.run} {item.tag}@{item.step}"
    if exp.get("data_class") == "DATA_CLASS_SCALAR":
        assert isinstance(value, Scalar), where
        np.testing.assert_equal(value.value, json_number(exp["value"]), err_msg=where)
    elif plugin == "histograms":
        assert isinstance(value, Histogram), where
        rows = np.asarray(exp["value"], dtype=np.float64).reshape(-1, 3)
        np.testing.assert_allclose(value.rows, rows, rtol=1e-6, atol=1e-30, err_msg=where)
    elif plugin == "images":
        assert isinstance(value, Image), where
        assert (value.width, value.height) == (int(exp["value"][0]), int(exp["value"][1]))
        assert len(value.images) == len(exp["value"]) - 2, where
        assert all(
            blob_matches(b, d) for b, d in zip(value.images, exp["value"][2:], strict=True)
        ), where
    elif plugin == "audio":
        assert isinstance(value, Audio), where
        assert len(value.clips) == len(exp["value"])
        assert all(blob_matches(c, d) for c, d in zip(value.clips, exp["value"], strict=True)), (
            where
        )
    elif plugin == "text" or (isinstance(value, Text) and exp.get("dtype") == "DT_STRING"):
        assert isinstance(value, Text), where
        assert value.to_json() == exp["value"], where
    elif plugin == "pr_curves":
        assert isinstance(value, PrCurve), where
        np.testing.assert_allclose(value.data, exp["value"], rtol=1e-7, err_msg=where)
    elif plugin == "mesh":
        assert isinstance(value, Mesh), where
        np.testing.assert_array_equal(value.array, exp["value"], err_msg=where)
    elif plugin == "custom_scalars":
        assert isinstance(value, CustomScalars), where
        assert value.data == exp["layout"], where
    elif plugin == "hparams":
        assert isinstance(value, HParams), where
    elif plugin == "graphs":
        assert isinstance(value, Graph) and value.format == "graph_def", where
        assert blob_matches(value.data, exp["value"][0]), where
    elif plugin == "graph_keras_model":
        assert isinstance(value, Graph) and value.format == "keras_model", where
        assert blob_matches(value.data, exp["value"][0]), where
    elif plugin in ("graph_tagged_run_metadata", "graph_run_metadata_graph"):
        assert isinstance(value, RunMetadata), where
        assert blob_matches(value.data, exp["value"][0]), where
    else:
        assert isinstance(value, Tensor), where
        assert value.plugin_name == plugin, where
        if "value" in exp:
            want = np.asarray(exp["value"])
            got = value.array
            if np.iscomplexobj(got):
                got = np.stack([got.real, got.imag], axis=-1)
            np.testing.assert_array_equal(got, want, err_msg=where)
        else:  # TensorBoard cannot decode it (torch quirks): we can, checked below
            assert value.array is not None, where


@pytest.mark.parametrize("name", WRITER_FIXTURES)
def test_every_value_matches_tensorboard(name):
    ours = our_values(name)
    runs = expected(name)["runs"]
    assert sorted({run for run, _ in ours}) == sorted(
        r for r, data in runs.items() if any(loaded_values(name, r, f) for f in data["files"])
    )
    compared = 0
    for run, data in runs.items():
        for basename in data["files"]:
            want = loaded_values(name, run, basename)
            got = ours.get((run, basename), [])
            assert [v.tag for v in got] == [w["tag"] for w in want], (run, basename)
            for item, exp in zip(got, want, strict=True):
                assert item.step == exp["step"], (item.tag, item.step)
                assert item.wall_time == json_number(exp["wall_time"]), item.tag
                assert_same_value(item, exp)
                compared += 1
    assert compared > 0


@pytest.mark.parametrize("name", WRITER_FIXTURES)
def test_hparams_content_matches_tensorboard(name):
    want = {}
    for run, data in expected(name)["runs"].items():
        for file in data["files"].values():
            for event in file["raw"]["events"]:
                for value in event.get("values", []):
                    if value.get("plugin_name") == "hparams":
                        want.setdefault((run, value["tag"]), value["metadata"]["content"])
    got = {}
    for item in LogReader(logdir(name), purge=False).values(["hparams"]):
        got.setdefault((item.run, item.tag), {item.value.part: item.value.data})
    assert got == want


def test_torch_half_and_uint8_tensors_decode():
    """TensorBoard cannot read these (format.md §4.4); tbtool recovers the logged values."""
    base = [[1.5, -2.25, 3.0], [0.0, 65504.0, -0.5]]
    values = {v.tag: v.value for v in LogReader(logdir("torch_all")).values(["tensor"])}
    assert values["tensor/float16"].torch_half_quirk
    np.testing.assert_array_equal(values["tensor/float16"].array, base)
    bf16 = [[1.5, -2.25, 3.0], [0.0, 65536.0, -0.5]]  # 65504 rounds to 65536 in bfloat16
    np.testing.assert_array_equal(values["tensor/bfloat16"].array, bf16)
    np.testing.assert_array_equal(values["tensor/uint8"].array, [0, 1, 255])
    assert values["tensor/uint8"].dtype == "uint8"


def accumulator_scalars(name: str, run: str) -> dict[str, list]:
    return expected(name)["runs"][run]["accumulator"]["scalars"]


def frame_series(df, run: str, tag: str) -> list[list]:
    rows = df[(df.run == run) & (df.tag == tag)]
    return [
        [int(s), float(w), float(v)]
        for s, w, v in zip(rows.step, rows.wall_time, rows.value, strict=True)
    ]


@pytest.mark.parametrize("name", ["torch_purge", "tbx_purge", "tf1_legacy"])
def test_purge_matches_legacy_accumulator_for_simple_values(name):
    """The legacy EventAccumulator purges every START (format.md §5.2), as we do."""
    df = tbtool.read_scalars(logdir(name))
    for run in expected(name)["runs"]:
        for tag, series in accumulator_scalars(name, run).items():
            assert frame_series(df, run, tag) == series, tag


def test_torch_purge_semantics():
    df = tbtool.read_scalars(logdir("torch_purge"))

    def series(tag):
        return [
            (int(s), float(v))
            for s, v in zip(df[df.tag == tag].step, df[df.tag == tag].value, strict=True)
        ]

    assert series("loss") == [(s, 10.0 - s) for s in range(5)] + [
        (s, 1000.0 + s) for s in (5, 6, 7)
    ]
    # Tags not rewritten after the restart lose their steps >= 5 too (all tags, all kinds).
    assert series("other") == [(s, 100.0 + s) for s in range(5)]
    # Tensor-encoded scalars are purged as well (the legacy accumulator never purges tensors).
    new_style = series("loss_new_style")
    assert [s for s, _ in new_style] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert [v for _, v in new_style][5:] == [2005.0, 2006.0, 2007.0]
    raw = tbtool.read_scalars(logdir("torch_purge"), purge=False)
    assert len(raw[raw.tag == "loss"]) == 13


def test_tf1_restart_purges_all_kinds_and_keeps_graphs():
    values = list(LogReader(logdir("tf1_legacy")).values())
    steps = {}
    for v in values:
        steps.setdefault((v.kind, v.tag), []).append(v.step)
    assert steps[("scalar", "loss")] == list(range(8))
    assert steps[("histogram", "weights")] == list(range(8))
    assert steps[("text", "notes")] == list(range(8))
    assert steps[("image", "images/image/0")] == [0, 6]
    assert ("graph", "__run_graph__") in steps and ("graph", "__meta_graph__") in steps
    notes = [v.value.strings[0] for v in values if v.tag == "notes"]
    assert notes[5].endswith("(after restart)")


def test_read_histograms_keeps_proto_statistics():
    df = tbtool.read_histograms(logdir("torch_all"), tags=["hist/constant"])
    (row,) = df.itertuples()
    assert (row.min, row.max, row.num, row.sum, row.sum_squares) == (3.0, 3.0, 10.0, 30.0, 90.0)
    assert row.bucket_count == [10.0]
    tf2 = tbtool.read_histograms(logdir("tf2_all"), tags=["hist/normal"])
    assert len(tf2) == 3 and tf2.num.iloc[0] == sum(tf2.bucket_count.iloc[0])


def test_read_text_and_hparams_frames():
    text = tbtool.read_text(logdir("tf2_all"))
    table = text[text.tag == "text/table"].text.iloc[0]
    assert json.loads(table) and len(json.loads(table)) == 3
    hp = tbtool.read_hparams(logdir("torch_all"))
    assert list(hp.run) == ["hp_run1", "hp_run2"]
    assert hp.loc[0, "optim"] == "adam" and hp.loc[0, "hparam/accuracy"] == pytest.approx(0.9)
    assert set(hp.status) == {"STATUS_SUCCESS"}
    tf2 = tbtool.read_hparams(logdir("tf2_all"))
    assert list(tf2.run) == ["session_0", "session_1"]
    assert tf2.loc[0, "use_bn"] is np.True_ or tf2.loc[0, "use_bn"] is True
