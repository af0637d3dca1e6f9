"""tbtool.dask on a distributed LocalCluster, reading from a real S3 server on loopback: one
partition per event file, and the same frames as the single-process readers."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")
pytest.importorskip("moto")

from s3_server import moto_s3

import tbtool
import tbtool.dask as tbdask
from tbtool import storage
from tbtool.format.record import RecordWriter
from tbtool.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2

KINDS = ["scalars", "histograms", "text", "images", "tensors", "pr_curves", "hparams"]


def _text_event(step: int, text: str, with_metadata: bool) -> bytes:
    value = summary_pb2.Summary.Value(
        tag="notes",
        tensor=tensor_pb2.TensorProto(
            dtype=7, string_val=[text.encode()], tensor_shape=tensor_shape_pb2.TensorShapeProto()
        ),
    )
    if with_metadata:
        value.metadata.plugin_data.plugin_name = "text"
    event = event_pb2.Event(
        wall_time=1.7e9 + step, step=step, summary=summary_pb2.Summary(value=[value])
    )
    return event.SerializeToString()


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask-logdir")
    rng = np.random.default_rng(1)
    with tbtool.SummaryWriter(root / "train") as w:
        for i in range(50):
            w.add_scalar("loss", 1 / (1 + i), i)
            w.add_histogram("w", rng.normal(size=50), i)
        w.add_image("img", np.full((3, 2, 2), 7, dtype=np.uint8), 3)
        w.add_pr_curve("pr", np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.6, 0.4]), 0)
    with tbtool.SummaryWriter(root / "train", purge_step=30) as w:  # restart in file 2
        for i in range(30, 60):
            w.add_scalar("loss", -i, i)
            w.add_text("t", f"s{i}", i)
    for n in range(3):
        with tbtool.SummaryWriter(root / "sweep" / f"r{n}") as w:
            w.add_hparams({"lr": 10.0**-n, "opt": "adam"}, {"acc": n / 3}, run_name=".")
            for i in range(10):
                w.add_scalar("acc", n + i, i)
                w.add_tensor("raw", np.arange(3.0) * i, i)
    # TF1 style: a tag's metadata only in the run's first file.
    (root / "tf1").mkdir()
    for n, steps in enumerate([(0, 1), (2, 3)]):
        with RecordWriter(str(root / "tf1" / f"events.out.tfevents.{1700000000 + n}.h")) as rw:
            rw.write(
                event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString()
            )
            for step in steps:
                rw.write(_text_event(step, f"text {step}", with_metadata=n == 0 and step == 0))
    with moto_s3():
        bucket = f"dask-{uuid.uuid4().hex[:8]}"
        fs, _ = storage.filesystem(f"s3://{bucket}")
        fs.mkdir(bucket)
        fs.put(str(root), f"{bucket}/runs", recursive=True)
        yield f"s3://{bucket}/runs"


@pytest.fixture(scope="module")
def client(url):
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _single(kind: str, url: str, **options) -> pd.DataFrame:
    """The single-process frame, with run and tag as strings as Dask partitions have them."""
    return getattr(tbtool, f"read_{kind}")(url, categorical=False, **options)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_equals_the_single_process_reader(client, url, kind):
    frame = tbdask.read_table(url, kind)
    expected = _single(kind, url)
    if kind != "hparams":
        files = sum(len(r.files) for r in tbtool.LogReader(url).runs)
        assert frame.npartitions == files == 10
        assert dict(frame.dtypes) == dict(expected.dtypes)  # the schema, before computing
    got = frame.compute().reset_index(drop=True)
    assert len(expected)
    pd.testing.assert_frame_equal(got, expected)


def test_metadata_and_restarts_cross_files(client, url):
    text = tbdask.read_text(url, runs=["^tf1$"]).compute()
    assert text["text"].tolist() == ["text 0", "text 1", "text 2", "text 3"]  # file 2 too
    loss = tbdask.read_scalars(url, runs=["^train$"]).compute()
    assert loss["step"].tolist() == [*range(30), *range(30, 60)]  # file 1 purged >= 30


def test_filters_and_parquet_on_s3(client, url):
    options = {"runs": ["sweep"], "tags": ["acc"], "steps": "2:8"}
    frame = tbdask.read_scalars(url, **options)
    expected = _single("scalars", url, **options)
    pd.testing.assert_frame_equal(frame.compute().reset_index(drop=True), expected)
    out = url.rsplit("/", 1)[0] + "/parquet"
    frame[frame["value"] > 3].to_parquet(out, write_index=False)
    back = pd.read_parquet(out).sort_values(["run", "step"], ignore_index=True)
    want = expected[expected["value"] > 3].sort_values(["run", "step"], ignore_index=True)
    assert back["value"].tolist() == want["value"].tolist()
    raw = tbdask.read_scalars(url, purge=False, runs=["^train$"]).compute()
    assert len(raw) == len(tbtool.read_scalars(url, purge=False, runs=["^train$"]))
