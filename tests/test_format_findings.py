"""Where the real writers differ from ../shared/spec/format.md, proven on the fixtures.

Each test states the spec's claim it contradicts or sharpens; the closing note of the
foundation issue lists them for the spec's owners.
"""

from __future__ import annotations

from pathlib import Path

from tbtool.reading.log_reader import LogReader
from tbtool.runs.logdir import find_runs

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def events(name: str, run: str = "."):
    reader = LogReader(FIXTURES / name / "logdir", purge=False)
    (selected,) = [r for r in reader.runs if r.name == run]
    return [record.event for _, record in reader.run_events(selected)]


def summary_values(name: str, run: str = "."):
    return [v for e in events(name, run) if e.HasField("summary") for v in e.summary.value]


def test_tf2_hparams_values_carry_a_null_tensor_and_no_session_end():
    # §2.7 says hparams values carry only metadata; TF2's hp API writes DT_FLOAT [0] tensors.
    root = [v for v in summary_values("tf2_all") if v.tag.startswith("_hparams_/")]
    assert [v.tag for v in root] == ["_hparams_/experiment"]
    (experiment,) = root
    assert experiment.WhichOneof("value") == "tensor"
    assert experiment.tensor.dtype == 1
    assert [d.size for d in experiment.tensor.tensor_shape.dim] == [0]
    session_tags = [v.tag for v in summary_values("tf2_all", "session_0")]
    assert "_hparams_/session_start_info" in session_tags
    assert "_hparams_/session_end_info" not in session_tags


def test_tensorboardx_mesh_tags_are_numeric_without_components():
    values = {v.tag: v for v in LogReader(FIXTURES / "tbx_all" / "logdir").values(["mesh"])}
    assert sorted(values) == ["mesh_1", "mesh_2", "mesh_3"]
    assert all(v.value.components == 0 for v in values.values())
    assert {v.value.array.dtype.name for v in values.values()} == {"float32"}


def test_tensorboardx_graph_run_metadata_tag_is_profiler():
    tags = [
        e.tagged_run_metadata.tag for e in events("tbx_all") if e.HasField("tagged_run_metadata")
    ]
    assert tags == ["profiler"]


def test_keras3_writes_no_graph_def_only_a_keras_model_config():
    evs = events("keras_fit", "train")
    assert not any(e.HasField("graph_def") for e in evs)
    keras = [v for v in summary_values("keras_fit", "train") if v.tag == "keras"]
    assert keras[0].metadata.plugin_data.plugin_name == "graph_keras_model"


def test_tensorflow_writer_name():
    (first, *_) = events("tf2_all")
    assert first.source_metadata.writer == "tensorflow.core.util.events_writer"
    (first, *_) = events("tf1_legacy")
    assert first.source_metadata.writer == "tensorflow.core.util.events_writer"


def test_tf1_single_output_image_and_audio_tags_have_no_index():
    tags = {v.tag for v in summary_values("tf1_legacy")}
    assert "single/image" in tags and "single/image/0" not in tags
    assert {"images/image/0", "images/image/1"} <= tags


def test_torch_video_batch_of_three_is_one_row_of_four():
    # §4.4 implies a 2x2 grid; torch lays the padded batch out in 1 row (rows from unpadded N).
    (video,) = [v for v in summary_values("torch_video_gif") if v.tag == "video/batch3"]
    assert (video.image.height, video.image.width) == (4, 16)


def test_torch_uint8_tensor_values_live_in_uint32_val():
    (t,) = [v.tensor for v in summary_values("torch_all") if v.tag == "tensor/uint8"]
    assert list(t.uint32_val) == [0, 1, 255] and not t.int_val


def test_tensorboardx_file_names_have_no_pid_or_counter():
    (run,) = [r for r in find_runs(FIXTURES / "tbx_purge" / "logdir")]
    for path in run.files:
        assert len(Path(path).name.split(".")) == 5  # events.out.tfevents.<secs>.<host>
