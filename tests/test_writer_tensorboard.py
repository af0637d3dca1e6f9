"""What we write, read back by TensorBoard's own loaders and by tbtool's reader.

One logdir is written with known data for every method; each test reads one kind through
TensorBoard (``EventFileLoader``, the legacy ``EventAccumulator``, the
``plugin_event_accumulator`` with ``make_ndarray``, the hparams / mesh / custom-scalars
plugins' parsers, the projector plugin's HTTP routes, the Rust data server) and through
``tbtool.LogReader``, and checks the values.
"""

from __future__ import annotations

import io
import os
import wave

import numpy as np
import pytest

pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing import (
    event_accumulator,
    event_file_loader,
    plugin_event_accumulator,
)
from tensorboard.util import tensor_util
from writer_support import event_files

from tbtool.reading.log_reader import LogReader
from tbtool.writer import SummaryWriter

RNG = np.random.default_rng(7)
HIST = RNG.normal(size=1000)
IMAGE_CHW = RNG.random((3, 6, 5)).astype(np.float32)
IMAGE_HWC_U8 = RNG.integers(0, 256, size=(4, 7, 3), dtype=np.uint8)
BATCH = RNG.random((3, 3, 4, 4)).astype(np.float32)
VIDEO = RNG.integers(0, 256, size=(1, 3, 3, 8, 8), dtype=np.uint8)
SOUND = (0.5 * np.sin(np.arange(400) / 5)).astype(np.float32)
LABELS = RNG.integers(0, 2, size=50)
PREDICTIONS = RNG.random(50)
VERTICES = RNG.normal(size=(1, 5, 3)).astype(np.float32)
FACES = np.array([[[0, 1, 2], [1, 2, 3], [2, 3, 4]]], dtype=np.int32)
COLORS = RNG.integers(0, 256, size=(1, 5, 3), dtype=np.uint8)
MAT = RNG.normal(size=(6, 4)).astype(np.float32)
LAYOUT = {
    "Losses": {"both": ["Multiline", ["loss.*"]], "band": ["Margin", ["v", "lo", "hi"]]},
}


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("tb"))
    with SummaryWriter(path) as w:
        for step in range(3):
            w.add_scalar("loss", 1.0 / (step + 1), step, walltime=1000.0 + step)
            w.add_scalar("loss_f32", 1.0 / 3 + step, step, new_style=True)
            w.add_scalar("loss_f64", 1.0 / 3 + step, step, new_style=True, double_precision=True)
        w.add_scalars("run", {"a": 1.5, "b": -2.0}, 4)
        w.add_histogram("hist", HIST, 1)
        w.add_histogram("hist_auto", HIST, 2, bins="auto")
        w.add_histogram_raw("hist_raw", -1.0, 3.0, 10, 7.0, 21.0, [0, 1, 2, 3], [2, 3, 4, 1], 3)
        w.add_image("image", IMAGE_CHW, 1)
        w.add_image("image_u8", IMAGE_HWC_U8, 1, dataformats="HWC")
        w.add_images("images", BATCH, 1)
        w.add_video("video", VIDEO, 1, fps=5)
        w.add_audio("audio", SOUND, 1, sample_rate=8000)
        w.add_text("note", "**bold** and ünïcode", 1)
        w.add_pr_curve("pr", LABELS, PREDICTIONS, 1, num_thresholds=9)
        w.add_pr_curve_raw(
            "pr_raw",
            [5, 3, 0],
            [5, 1, 0],
            [0, 4, 5],
            [0, 2, 5],
            [0.5, 0.75, 0],
            [1, 0.6, 0],
            2,
            num_thresholds=3,
        )
        w.add_custom_scalars(LAYOUT)
        w.add_mesh(
            "mesh",
            VERTICES,
            colors=COLORS,
            faces=FACES,
            config_dict={"camera": {"fov": 75}},
            global_step=1,
        )
        w.add_tensor("tensor_half", np.array([1.5, -2.0], dtype=np.float16), 1)
        w.add_embedding(
            MAT,
            metadata=list("abcdef"),
            label_img=RNG.random((6, 3, 5, 5)),
            global_step=2,
            tag="emb/x",
        )
        w.add_hparams(
            {"lr": 0.1, "layers": 3, "bn": True, "opt": "adam", "skip": None},
            {"hp/acc": 0.75},
            hparam_domain_discrete={"opt": ["adam", "sgd"], "bn": [True, False]},
            run_name="trial",
        )
        import torch

        w.add_graph(torch.nn.Sequential(torch.nn.Linear(3, 2)), torch.zeros(1, 3))
    return path


@pytest.fixture(scope="module")
def legacy(logdir):
    acc = event_accumulator.EventAccumulator(
        logdir, size_guidance={k: 0 for k in event_accumulator.DEFAULT_SIZE_GUIDANCE}
    )
    acc.Reload()
    return acc


@pytest.fixture(scope="module")
def plugin_acc(logdir):
    acc = plugin_event_accumulator.EventAccumulator(
        logdir, tensor_size_guidance={"scalars": 0, "tensors": 0}, size_guidance={"tensors": 0}
    )
    acc.Reload()
    return acc


def ours(logdir, kind, tag, run="."):
    return [v for v in LogReader(logdir).values([kind]) if v.tag == tag and v.run == run]


def test_every_file_loads_in_event_file_loader(logdir):
    seen = set()
    for directory, _dirs, _files in os.walk(logdir):
        for path in event_files(directory) if any("tfevents" in f for f in _files) else []:
            for event in event_file_loader.EventFileLoader(path).Load():
                for value in event.summary.value:
                    seen.add(value.metadata.plugin_data.plugin_name)
                    if (
                        value.HasField("tensor")
                        and value.metadata.plugin_data.plugin_name != "hparams"
                    ):
                        tensor_util.make_ndarray(value.tensor)  # every tensor decodes
    assert {"scalars", "histograms", "images", "audio", "text", "pr_curves", "mesh"} <= seen
    assert {"custom_scalars", "tensor", "hparams", "graphs"} <= seen


def test_scalars(logdir, legacy, plugin_acc):
    assert [(s.step, s.wall_time, s.value) for s in legacy.Scalars("loss")] == [
        (0, 1000.0, 1.0),
        (1, 1001.0, 0.5),
        (2, 1002.0, np.float32(1 / 3)),
    ]
    for tag, dtype in (("loss_f32", np.float32), ("loss_f64", np.float64)):
        values = [tensor_util.make_ndarray(t.tensor_proto).item() for t in plugin_acc.Tensors(tag)]
        assert values == [float(dtype(1 / 3 + s)) for s in range(3)]
        assert [v.value.value for v in ours(logdir, "scalar", tag)] == values
    assert [v.value.value for v in ours(logdir, "scalar", "loss")] == [1.0, 0.5, np.float32(1 / 3)]


def test_add_scalars_runs(logdir):
    for run, expected in (("run_a", 1.5), ("run_b", -2.0)):
        acc = event_accumulator.EventAccumulator(os.path.join(logdir, run))
        acc.Reload()
        assert [(s.step, s.value) for s in acc.Scalars("run")] == [(4, expected)]
        assert [(v.step, v.value.value) for v in ours(logdir, "scalar", "run", run)] == [
            (4, expected)
        ]


def test_scalars_in_tensorboards_rust_data_server(logdir):
    viewers = pytest.importorskip("viewers")
    try:
        data = viewers.rustboard_scalars(logdir, timeout=20)
    except (FileNotFoundError, RuntimeError, TimeoutError) as e:  # no binary on this platform
        pytest.skip(f"rustboard unavailable: {e}")
    assert data["."]["loss"] == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]
    assert data["."]["loss_f32"] == [(s, pytest.approx(1 / 3 + s)) for s in range(3)]
    assert not data["."].get("loss_f64")  # rustboard drops DT_DOUBLE scalars (format.md §3.3)
    assert data["run_a"]["run"] == [(4, 1.5)]
    assert data["trial"]["hp/acc"] == [(0, 0.75)]


def test_histograms(logdir, legacy, plugin_acc):
    (h,) = legacy.Histograms("hist")
    assert h.step == 1
    assert h.histogram_value.num == 1000 and sum(h.histogram_value.bucket) == 1000
    assert h.histogram_value.min == HIST.min() and h.histogram_value.max == HIST.max()
    _counts, edges = np.histogram(HIST, bins="auto")
    (ha,) = plugin_acc.Tensors("hist_auto")
    rows = tensor_util.make_ndarray(ha.tensor_proto)
    assert rows[:, 2].sum() == 1000
    np.testing.assert_allclose(rows[:, 1], np.append(edges[1:-1], HIST.max()), rtol=1e-6)
    (raw,) = plugin_acc.Tensors("hist_raw")
    np.testing.assert_array_equal(
        tensor_util.make_ndarray(raw.tensor_proto), [[-1, 0, 2], [0, 1, 3], [1, 2, 4], [2, 3, 1]]
    )
    (value,) = ours(logdir, "histogram", "hist")
    assert value.value.total == 1000


def _decode_png(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)))


def test_images(logdir, legacy, plugin_acc):
    (image,) = legacy.Images("image")
    assert (image.width, image.height) == (5, 6)
    np.testing.assert_array_equal(
        _decode_png(image.encoded_image_string),
        (IMAGE_CHW.transpose(1, 2, 0) * 255).astype(np.uint8),
    )
    (u8,) = plugin_acc.Tensors("image_u8")
    width, height, png = tensor_util.make_ndarray(u8.tensor_proto)
    assert (int(width), int(height)) == (7, 4)
    np.testing.assert_array_equal(_decode_png(png), IMAGE_HWC_U8)
    (grid,) = legacy.Images("images")
    assert (grid.width, grid.height) == (12, 4)  # 3 images in one row
    (value,) = ours(logdir, "image", "image")
    assert (value.value.width, value.value.height, value.value.format) == (5, 6, "png")


def test_video_is_an_animated_gif(logdir, legacy):
    from PIL import Image

    (video,) = legacy.Images("video")
    assert (video.width, video.height) == (8, 8)
    gif = Image.open(io.BytesIO(video.encoded_image_string))
    assert gif.format == "GIF" and gif.n_frames == 3
    assert gif.info["duration"] == 200 and gif.info["loop"] == 0
    for t in range(3):
        gif.seek(t)
        frame = np.asarray(gif.convert("RGB")).astype(int)
        assert np.abs(frame - VIDEO[0, t].transpose(1, 2, 0)).max() <= 8  # GIF palette
    (value,) = ours(logdir, "image", "video")
    assert value.value.format == "gif"


def test_audio(logdir, legacy, plugin_acc):
    (clip,) = legacy.Audio("audio")
    assert (clip.sample_rate, clip.length_frames, clip.content_type) == (8000, 400, "audio/wav")
    with wave.open(io.BytesIO(clip.encoded_audio_string)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getnframes()) == (1, 8000, 400)
        frames = np.frombuffer(wav.readframes(400), "<i2")
    np.testing.assert_array_equal(frames, (SOUND.astype(np.float64) * 32767).astype(np.int16))
    (t,) = plugin_acc.Tensors("audio")
    assert tensor_util.make_ndarray(t.tensor_proto).reshape(-1)[0] == clip.encoded_audio_string
    (value,) = ours(logdir, "audio", "audio")
    assert value.value.sample_rate == 8000


def test_text(logdir, plugin_acc):
    (t,) = plugin_acc.Tensors("note/text_summary")
    assert plugin_acc.SummaryMetadata("note/text_summary").plugin_data.plugin_name == "text"
    assert tensor_util.make_ndarray(t.tensor_proto).tolist() == ["**bold** and ünïcode".encode()]
    (value,) = ours(logdir, "text", "note/text_summary")
    assert value.value.strings == ["**bold** and ünïcode"]


def test_pr_curves(logdir, plugin_acc):
    from tensorboard.plugins.pr_curve import metadata as pr_metadata

    from tbtool.writer.pr_curve import compute_curve

    meta = pr_metadata.parse_plugin_metadata(plugin_acc.SummaryMetadata("pr").plugin_data.content)
    assert meta.num_thresholds == 9
    (t,) = plugin_acc.Tensors("pr")
    data = tensor_util.make_ndarray(t.tensor_proto)
    assert data.shape == (6, 9)
    np.testing.assert_allclose(
        data, compute_curve(LABELS, PREDICTIONS, 9).astype(np.float32), rtol=1e-6
    )
    assert data[0, 0] == LABELS.sum() and data[1, 0] == (1 - LABELS).sum()  # all predicted true
    (raw,) = plugin_acc.Tensors("pr_raw")
    np.testing.assert_allclose(tensor_util.make_ndarray(raw.tensor_proto)[4], [0.5, 0.75, 0])
    (value,) = ours(logdir, "pr_curve", "pr")
    np.testing.assert_allclose(value.value.data, data)


def test_custom_scalars(logdir, plugin_acc):
    from tensorboard.plugins.custom_scalar import layout_pb2

    (t,) = plugin_acc.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(tensor_util.make_ndarray(t.tensor_proto).item())
    (category,) = layout.category
    assert category.title == "Losses"
    multiline, margin = category.chart
    assert (multiline.title, list(multiline.multiline.tag)) == ("both", ["loss.*"])
    (series,) = margin.margin.series
    assert (series.value, series.lower, series.upper) == ("v", "lo", "hi")
    (value,) = ours(logdir, "custom_scalars", "custom_scalars__config__")
    assert value.value.data["category"][0]["title"] == "Losses"


def test_mesh(logdir, plugin_acc):
    from tensorboard.plugins.mesh import metadata as mesh_metadata

    for tag, expected in (("mesh_VERTEX", VERTICES), ("mesh_FACE", FACES), ("mesh_COLOR", COLORS)):
        content = mesh_metadata.parse_plugin_metadata(
            plugin_acc.SummaryMetadata(tag).plugin_data.content
        )
        assert content.name == "mesh" and content.components == 0b1110
        assert list(content.shape) == list(expected.shape)
        assert content.json_config == '{"camera": {"fov": 75}}'
        (t,) = plugin_acc.Tensors(tag)
        np.testing.assert_array_equal(tensor_util.make_ndarray(t.tensor_proto), expected)
    (value,) = ours(logdir, "mesh", "mesh_FACE")
    np.testing.assert_array_equal(value.value.array, FACES)


def test_tensor_half(plugin_acc):
    (t,) = plugin_acc.Tensors("tensor_half")
    array = tensor_util.make_ndarray(t.tensor_proto)
    assert array.dtype == np.float16 and array.tolist() == [1.5, -2.0]


def test_hparams(logdir):
    from tensorboard.plugins.hparams import metadata as hp_metadata

    acc = plugin_event_accumulator.EventAccumulator(os.path.join(logdir, "trial"))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    experiment = hp_metadata.parse_experiment_plugin_data(content["_hparams_/experiment"])
    infos = {i.name: i for i in experiment.hparam_infos}
    assert set(infos) == {"lr", "layers", "bn", "opt"}  # None values are left out
    assert infos["bn"].type == 2  # DATA_TYPE_BOOL (torch: FLOAT64)
    assert [v.bool_value for v in infos["bn"].domain_discrete.values] == [True, False]
    assert [v.string_value for v in infos["opt"].domain_discrete.values] == ["adam", "sgd"]
    assert infos["lr"].type == 3 and infos["opt"].type == 1
    assert [m.name.tag for m in experiment.metric_infos] == ["hp/acc"]
    start = hp_metadata.parse_session_start_info_plugin_data(
        content["_hparams_/session_start_info"]
    )
    assert start.hparams["bn"].WhichOneof("kind") == "bool_value" and start.hparams["bn"].bool_value
    assert start.hparams["lr"].number_value == 0.1 and start.hparams["layers"].number_value == 3
    assert start.hparams["opt"].string_value == "adam"
    end = hp_metadata.parse_session_end_info_plugin_data(content["_hparams_/session_end_info"])
    assert end.status == 1  # STATUS_SUCCESS
    (metric,) = acc.Tensors("hp/acc")
    assert tensor_util.make_ndarray(metric.tensor_proto).item() == np.float32(0.75)
    import tbtool

    table = tbtool.read_hparams(logdir)
    assert table["bn"].dtype == bool and bool(table.loc[0, "bn"]) is True


def test_graph(logdir, plugin_acc, legacy):
    for acc in (plugin_acc, legacy):
        ops = {node.op for node in acc.Graph().node}
        assert {"IO Node", "aten::linear"} <= ops
    assert legacy.RunMetadata("step1").step_stats.dev_stats[0].device == "/device:CPU:0"
    (value,) = ours(logdir, "graph", "__run_graph__")
    assert value.value.format == "graph_def"


def test_embedding_in_the_projector_plugin(logdir):
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.projector import projector_plugin
    from werkzeug import test as werkzeug_test
    from werkzeug import wrappers

    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    context = base_plugin.TBContext(
        logdir=logdir, data_provider=data_provider.MultiplexerDataProvider(mux, logdir)
    )
    plugin = projector_plugin.ProjectorPlugin(context)
    apps = plugin.get_plugin_apps()

    def get(route, **args):
        client = werkzeug_test.Client(apps[route], wrappers.Response)
        response = client.get(route, query_string=args)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_data()

    name = "emb/x:00002"
    tensor = np.frombuffer(get("/tensor", run=".", name=name), np.float32).reshape(6, 4)
    np.testing.assert_array_equal(tensor, MAT)
    assert get("/metadata", run=".", name=name).decode().split() == list("abcdef")
    sprite = _decode_png(get("/sprite_image", run=".", name=name))
    assert sprite.shape == (15, 15, 3)  # 3 x 3 grid of 5 x 5 thumbnails
    assert os.path.isfile(os.path.join(logdir, "00002", "emb%2fx", "tensors.tsv"))


def test_purge_step_restart(tmp_path):
    """purge_step: TensorBoard's legacy accumulator and tbtool drop the old steps >= T."""
    with SummaryWriter(tmp_path) as w:
        for step in range(6):
            w.add_scalar("loss", float(step), step)
    # Made within the same second: the resumed file still sorts after the first one.
    with SummaryWriter(tmp_path, purge_step=3) as w:
        w.add_scalar("loss", 30.0, 3)
    acc = event_accumulator.EventAccumulator(str(tmp_path))
    acc.Reload()
    expected = [(0, 0.0), (1, 1.0), (2, 2.0), (3, 30.0)]
    assert [(s.step, s.value) for s in acc.Scalars("loss")] == expected
    assert [(v.step, v.value.value) for v in ours(str(tmp_path), "scalar", "loss")] == expected


def test_boxes_figures_charts_and_onnx(tmp_path):
    """The remaining methods, each read back by TensorBoard's loaders and ours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from tensorboard.plugins.custom_scalar import layout_pb2

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
    onnx_path = tmp_path / "model.onnx"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3),), str(onnx_path), dynamo=False)
    figures = []
    for color in ("red", "blue"):
        fig = plt.figure(figsize=(0.4, 0.3), dpi=100)  # 40 x 30 pixels
        plt.plot([0, 1], [0, 1], color=color)
        figures.append(fig)
    logdir = tmp_path / "logs"
    with SummaryWriter(logdir) as w:
        w.add_image_with_boxes(
            "boxes", np.zeros((3, 20, 30)), [[2, 2, 10, 10], [12, 5, 25, 15]], 1, labels=["a", "b"]
        )
        w.add_image_with_boxes("boxes_x2", np.zeros((3, 20, 30)), [[2, 2, 10, 10]], 1, rescale=2)
        w.add_figure("figure", figures[0], 1)
        w.add_figure("figures", figures, 1)
        w.add_custom_scalars_multilinechart(["loss.*"], category="C", title="lines")
        w.add_custom_scalars_marginchart(["v", "lo", "hi"], category="C", title="band")
        w.add_onnx_graph(str(onnx_path))
    assert not plt.get_fignums()  # close=True closed them
    acc = event_accumulator.EventAccumulator(str(logdir))
    acc.Reload()
    (boxes,) = acc.Images("boxes")
    pixels = _decode_png(boxes.encoded_image_string)
    assert (boxes.width, boxes.height) == (30, 20) and pixels.shape == (20, 30, 3)
    assert (pixels[5, 10] == [255, 0, 0]).all() and (pixels[8, 21] == [0, 0, 0]).all()
    (scaled,) = acc.Images("boxes_x2")
    assert (scaled.width, scaled.height) == (60, 40)
    assert _decode_png(scaled.encoded_image_string).shape == (40, 60, 3)
    (figure,) = acc.Images("figure")
    assert (figure.width, figure.height) == (40, 30)
    (grid,) = acc.Images("figures")
    assert (grid.width, grid.height) == (80, 30)
    layouts = [
        layout_pb2.Layout.FromString(tensor_util.make_ndarray(t.tensor_proto).item())
        for t in acc.Tensors("custom_scalars__config__")
    ]
    assert [c.chart[0].title for layout in layouts for c in layout.category] == ["lines", "band"]
    assert list(layouts[1].category[0].chart[0].margin.series[0].upper) == list("hi")
    graph = acc.Graph()
    assert {n.op for n in graph.node} >= {"Variable", "Gemm", "Relu"}
    kinds = [v.kind for v in LogReader(str(logdir)).values(["image", "custom_scalars", "graph"])]
    assert kinds.count("image") == 4 and kinds.count("custom_scalars") == 2
    assert kinds.count("graph") == 1
