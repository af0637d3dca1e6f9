"""tbtool synth: every option's output validates clean (or with exactly the injected fault),
TensorBoard's own loaders read the counts synth reports, equal seeds give identical bytes,
each style writes its writer's encodings, and --size reaches its target."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from tbtool import LogReader
from tbtool.cli import app
from tbtool.errors import UsageError
from tbtool.format.record import read_records
from tbtool.ops.synth.bulk import BulkScalars, width_bands
from tbtool.ops.synth.generate import FAULTS, MARKER, synth
from tbtool.ops.synth.styles import STYLES
from tbtool.ops.validate import validate
from tbtool.proto import event_pb2
from tbtool.vocabulary.byte_size import parse_size
from tbtool.writer import wire
from tbtool.writer.event_file import frame

runner = CliRunner()
#: series kind -> the TensorBoard plugin that serves it
PLUGINS = {
    "scalar": "scalars",
    "histogram": "histograms",
    "image": "images",
    "audio": "audio",
    "text": "text",
    "pr_curve": "pr_curves",
    "hparams": "hparams",
    "custom_scalars": "custom_scalars",
    "mesh": "mesh",
    "tensor": "tensor",
    "graph": "graphs",
}


def findings(out) -> list[tuple[str, str | None]]:
    return sorted((f.code, f.run) for f in validate(out).findings)


def expected(result) -> list[tuple[str, str | None]]:
    return sorted(result.expected_findings())


def tensorboard_counts(logdir) -> dict[tuple[str, str], int]:
    """(run, tag) -> values TensorBoard's Python multiplexer (plugin accumulator) keeps."""
    from tensorboard.backend.event_processing import plugin_event_multiplexer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mux = plugin_event_multiplexer.EventMultiplexer(
            tensor_size_guidance=dict.fromkeys(PLUGINS.values(), 0)
        )
        mux.AddRunsFromDirectory(str(logdir))
        mux.Reload()
    counts = {}
    for run, tags in mux.Runs().items():
        for tag in tags["tensors"]:
            counts[run, tag] = len(mux.Tensors(run, tag))
    return counts


def events(path) -> list:
    return [event_pb2.Event.FromString(r.payload) for r in read_records(path)]


def summary_values(path) -> dict[str, list]:
    out: dict[str, list] = {}
    for e in events(path):
        for v in e.summary.value:
            out.setdefault(v.tag, []).append(v)
    return out


# -- clean output: validate and TensorBoard ------------------------------------------------------
@pytest.mark.parametrize("style", ["torch", "tensorboardx", "tf2"])
@pytest.mark.parametrize("restart", [None, "40%"])
def test_every_kind_validates_clean_and_loads_in_tensorboard(tmp_path, style, restart):
    out = tmp_path / "logs"
    result = synth(out, style=style, kinds="all", steps=150, runs=2, restart_at=restart)
    # Clean output: no finding at all; a restart adds its one `restart` (info) finding.
    assert findings(out) == expected(result)
    assert expected(result) == ([("restart", result.runs[0].name)] if restart else [])
    # TensorBoard's Python loader ignores the first START of a run, so it shows every value
    # written; tbtool's reader applies restart semantics and keeps `kept`.
    tb = tensorboard_counts(out)
    ours = Counter((v.run, v.tag) for v in LogReader(str(out)).values())
    for run in result.runs:
        for tag, series in run.series.items():
            if series.kind == "run_metadata":
                continue
            assert tb[run.name, tag] == series.written, (run.name, tag)
            assert ours[run.name, tag] == series.kept, (run.name, tag)
        kept = {s.kept for t, s in run.series.items() if s.kind == "scalar"}
        assert kept == {150}
    if restart:
        first = result.runs[0].series["loss/train"]
        assert first.written == 150 + result.crashed_at + 1 - result.restart_at


def test_rustboard_shows_the_resumed_run_like_tbtool(tmp_path):
    from viewers import rustboard_scalars

    out = tmp_path / "logs"
    result = synth(out, style="tf2", kinds="scalars", steps=80, runs=2, restart_at=30)
    shown = rustboard_scalars(str(out))
    for run in result.runs:
        for tag, series in run.series.items():
            points = shown[run.name][tag]
            assert len(points) == series.kept == 80
            assert [s for s, _ in points] == list(range(80))


def test_shapes_look_like_training(tmp_path):
    import tbtool

    synth(tmp_path / "logs", kinds="scalars,histograms", tags=7, steps=2000, runs=1)
    df = tbtool.read_scalars(str(tmp_path / "logs"))
    series = {tag: g.sort_values("step").value.to_numpy() for tag, g in df.groupby("tag")}
    head, tail = slice(0, 200), slice(-200, None)
    for tag in ("loss/train", "loss/val"):
        assert series[tag][head].mean() > 3 * series[tag][tail].mean(), tag
    for tag in ("accuracy/train", "accuracy/val"):
        assert series[tag][tail].mean() > series[tag][head].mean() + 0.4, tag
        assert series[tag].min() >= 0 and series[tag].max() <= 1
    lr = series["learning_rate"]
    peak = int(np.argmax(lr))
    assert 0 < peak <= 110 and lr[-1] < lr[peak] / 50  # warm-up, then cosine decay
    assert np.all(np.diff(lr[peak:]) <= 1e-12)
    hist = tbtool.read_histograms(str(tmp_path / "logs")).sort_values("step")
    spread = (hist["sum_squares"] / hist["num"] - (hist["sum"] / hist["num"]) ** 2).to_numpy()
    assert spread[-1] > 2 * spread[0]  # the weights drift and widen


# -- faults ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_gives_exactly_its_finding(tmp_path, fault):
    out = tmp_path / "logs"
    result = synth(out, kinds="all", steps=60, runs=2, corrupt=[fault])
    report = validate(out)
    assert sorted((f.code, f.run) for f in report.findings) == expected(result)
    (injected,) = result.faults
    (finding,) = report.findings
    assert finding.code == FAULTS[fault].code == injected.code
    if finding.file is not None:
        assert finding.file == injected.file
    for field in ("offset", "index"):
        if getattr(injected, field) is not None:
            assert getattr(finding, field) == getattr(injected, field), field


@pytest.mark.parametrize("style", ["tensorboardx", "tf2"])
def test_all_faults_at_once_with_a_restart(tmp_path, style):
    names = [name for name, f in FAULTS.items() if style in f.styles]
    out = tmp_path / "logs"
    result = synth(
        out, style=style, kinds="all", steps=100, runs=len(names), corrupt=names, restart_at=40
    )
    assert findings(out) == expected(result)
    assert len(expected(result)) == len(names) + 1


def test_fault_requests_that_cannot_work_are_refused(tmp_path):
    cases = [
        ({"corrupt": ["nope"]}, "unknown fault 'nope'"),
        ({"corrupt": ["bad-image"], "kinds": "scalars"}, "needs images in --kind"),
        ({"corrupt": ["histogram-counts"], "style": "tf2"}, "cannot be written in the tf2"),
        ({"corrupt": ["nan", "bitflip"], "runs": 1}, "need at least 2 runs"),
        ({"corrupt": ["nan", "nan"]}, "each fault may be given once"),
        ({"corrupt": ["nan"], "steps": 3}, "at least 4 steps"),
        ({"corrupt": ["nan"], "steps": 10, "restart_at": 8}, "restart at step 6 or earlier"),
    ]
    for options, message in cases:
        with pytest.raises(UsageError, match=re.escape(message)):
            synth(tmp_path / "x", **options)
    assert not (tmp_path / "x").exists()  # refused before anything was written


# -- determinism ----------------------------------------------------------------------------------
def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_same_bytes_also_across_processes(tmp_path):
    options = ["--kinds", "all", "--steps", "120", "--restart-at", "50", "--corrupt", "bitflip"]
    synth(tmp_path / "a", kinds="all", steps=120, restart_at=50, corrupt=["bitflip"])
    cli = [sys.executable, "-m", "tbtool", "synth", str(tmp_path / "b"), *options]
    subprocess.run(cli, check=True, capture_output=True)
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert a == b and len(a) == 5  # marker + 4 event files, names included
    synth(tmp_path / "c", kinds="all", steps=120, restart_at=50, corrupt=["bitflip"], seed=1)
    c = tree(tmp_path / "c")
    assert c.keys() != a.keys()  # run names follow the drawn hyperparameters
    assert not set(c.values()) & {v for k, v in a.items() if k != MARKER}


def test_start_moves_every_wall_time(tmp_path):
    result = synth(tmp_path / "logs", steps=20, runs=1, start=1_600_000_000)
    path = result.files[0]
    assert os.path.basename(path).startswith("events.out.tfevents.1600000000.")
    walls = [e.wall_time for e in events(path)]
    assert walls[0] == 1_600_000_000 and 1_600_000_000 < walls[-1] < 1_600_000_100
    assert walls == sorted(walls)


# -- encodings per style --------------------------------------------------------------------------
def test_torch_encodings(tmp_path):
    result = synth(tmp_path / "logs", kinds="all", steps=40, runs=1, restart_at=20)
    first, resumed = result.runs[0].files
    for f in (first, resumed):
        assert re.fullmatch(r"events\.out\.tfevents\.\d{10}\.synth\.\d+\.\d+", Path(f.path).name)
    head = events(first.path)[0]
    assert head.file_version == "brain.Event:2"
    assert head.source_metadata.writer == "tensorboard.summary.writer.event_file_writer"
    restart = events(resumed.path)[1:3]  # what SummaryWriter(purge_step=20) writes
    assert (restart[0].step, restart[0].file_version) == (20, "brain.Event:2")
    assert (restart[1].step, restart[1].session_log.status) == (20, event_pb2.SessionLog.START)
    values = summary_values(first.path)
    assert all(v.WhichOneof("value") == "simple_value" for v in values["loss/train"])
    assert all(not v.HasField("metadata") for v in values["loss/train"])
    assert all(v.WhichOneof("value") == "histo" for v in values["weights/layer0"])
    image = values["samples/reconstruction"][0].image
    assert image.encoded_image_string.startswith(b"\x89PNG") and image.width == 32
    assert values["samples/tone"][0].audio.encoded_audio_string.startswith(b"RIFF")
    text = values["notes/text_summary"][0]
    assert text.metadata.plugin_data.plugin_name == "text"
    assert [d.size for d in text.tensor.tensor_shape.dim] == [1]
    assert values["eval/confusion"][0].metadata.plugin_data.plugin_name == "tensor"
    assert {"point_cloud_VERTEX", "point_cloud_COLOR", "pr/val"} <= values.keys()
    assert any(e.HasField("graph_def") for e in events(first.path))
    assert any(e.tagged_run_metadata.tag == "step1" for e in events(first.path))


def test_tensorboardx_encodings(tmp_path):
    result = synth(tmp_path / "logs", style="tensorboardx", kinds="all", steps=40, runs=1)
    path = result.files[0]
    assert re.fullmatch(r"events\.out\.tfevents\.\d{10}\.synth", Path(path).name)  # no pid
    head = events(path)[0]
    assert head.file_version == "brain.Event:2" and not head.HasField("source_metadata")
    values = summary_values(path)
    assert values["loss/train"][0].WhichOneof("value") == "simple_value"
    assert {"point_cloud_1", "point_cloud_3"} <= values.keys()  # numbered mesh components
    assert "eval/confusion" not in values  # tensorboardX has no add_tensor
    with pytest.raises(UsageError, match="no tensors"):
        synth(tmp_path / "x", style="tensorboardx", kinds="tensors")


def test_tf2_encodings(tmp_path):
    result = synth(tmp_path / "logs", style="tf2", kinds="all", steps=40, runs=1, restart_at=20)
    first, resumed = result.runs[0].files
    assert Path(first.path).name.endswith(".v2")
    assert re.fullmatch(
        r"events\.out\.tfevents\.\d{10}\.synth\.\d+\.\d+\.v2", Path(first.path).name
    )
    head = events(first.path)[0]
    assert head.wall_time == int(head.wall_time)
    assert head.source_metadata.writer == "tensorflow.core.util.events_writer"
    restart = events(resumed.path)[1]
    assert (restart.step, restart.session_log.status) == (20, event_pb2.SessionLog.START)
    values = summary_values(first.path)
    loss = values["loss/train"][1]
    assert loss.tensor.dtype == 1 and loss.tensor.HasField("tensor_shape")
    assert not loss.tensor.tensor_shape.dim and len(loss.tensor.tensor_content) == 4
    assert loss.metadata.plugin_data.plugin_name == "scalars"
    hist = values["weights/layer0"][0].tensor
    assert hist.dtype == 2 and [d.size for d in hist.tensor_shape.dim] == [30, 3]
    table = np.frombuffer(hist.tensor_content, "<f8").reshape(30, 3)
    assert table[:, 2].sum() == 1000 and np.all(table[1:, 0] == table[:-1, 1])
    image = values["samples/reconstruction"][0].tensor
    assert image.dtype == 7 and [d.size for d in image.tensor_shape.dim] == [5]
    assert image.string_val[:2] == [b"32", b"32"]
    assert all(b.startswith(b"\x89PNG") for b in image.string_val[2:])
    audio = values["samples/tone"][0].tensor
    assert [d.size for d in audio.tensor_shape.dim] == [1, 2]
    text = values["notes"][0].tensor
    assert text.dtype == 7 and not text.tensor_shape.dim  # rank 0, tag kept as is
    pr = values["pr/val"][0].tensor
    assert [d.size for d in pr.tensor_shape.dim] == [6, 127] and pr.tensor_content
    assert values["_hparams_/session_start_info"][0].tensor.dtype == 1  # the null tensor
    assert "_hparams_/session_end_info" not in values


# -- bulk scalars ---------------------------------------------------------------------------------
@pytest.mark.parametrize("style", sorted(STYLES))
def test_bulk_records_equal_event_by_event_encoding(style):
    tags = ["loss", "accuracy/val", "a/much/longer/tag/name/" * 4]
    parts = [STYLES[style].scalar_parts(t) for t in tags]
    bulk = BulkScalars(parts)
    rng = np.random.default_rng(0)
    for first, stop in [
        (0, 3),
        (120, 140),
        (16380, 16390),
        (2**21 - 2, 2**21 + 2),
        (2**28, 2**28 + 3),
    ]:
        steps = np.arange(first, stop, dtype=np.int64)
        walls = 1.7e9 + steps * 0.25 + np.arange(3)[:, None] * 1e-3
        values = rng.normal(size=(3, len(steps)))
        values[1, 0] = np.nan
        built = b"".join(
            bulk.block(
                steps[a - first : b - first],
                walls[:, a - first : b - first],
                values[:, a - first : b - first],
                [0, 1, 2],
            ).tobytes()
            for a, b in width_bands(first, stop)
        )
        reference = []
        for i, s in enumerate(steps):
            for t, (prefix, suffix) in enumerate(parts):
                number = struct.pack("<f", values[t, i])
                reference.append(
                    wire.event_bytes(float(walls[t, i]), int(s), prefix + number + suffix)
                )
        assert built == frame(reference), (first, stop)


# -- size -----------------------------------------------------------------------------------------
def test_size_reaches_the_target(tmp_path):
    result = synth(tmp_path / "logs", size="30MB", kinds="all", restart_at="50%")
    assert abs(result.bytes - 30_000_000) < 30_000_000 * 0.01
    assert sum(os.path.getsize(f) for f in result.files) == result.bytes
    assert findings(tmp_path / "logs") == expected(result)
    small = synth(tmp_path / "small", size="200k", runs=1, kinds="scalars", tags=1)
    assert 200_000 - 64 < small.bytes <= 200_000
    mixed = synth(tmp_path / "mixed", size="5MB", kinds="all", style="tf2", runs=2)
    assert abs(mixed.bytes - 5_000_000) < 5_000
    assert all(run.last_step >= mixed.steps - 5 for run in mixed.runs)  # none cut short
    with pytest.raises(UsageError, match="kinds other than scalars take"):
        synth(tmp_path / "tiny", size="1MB")


@pytest.mark.parametrize(
    ("text", "size"),
    [("500MB", 500 * 10**6), ("1.5GiB", 3 << 29), ("64k", 64000), ("1000", 1000), (7, 7)],
)
def test_sizes(text, size):
    assert parse_size(text) == size


def test_bad_sizes():
    for text in ("5 parsecs", "-3", "MB"):
        with pytest.raises(UsageError):
            parse_size(text, "--size")


# -- output directory safety ----------------------------------------------------------------------
def test_refuses_non_empty_directories_and_overwrites_only_its_own(tmp_path):
    mine = tmp_path / "mine"
    synth(mine, steps=10, runs=2)
    with pytest.raises(UsageError, match="not empty"):
        synth(mine, steps=10)
    (mine / "stale-run").mkdir()
    synth(mine, steps=10, runs=1, overwrite=True)
    assert sorted(p.name for p in mine.iterdir()) == [MARKER, "run0-sgd-lr0.003"]
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "checkpoint.pt").write_bytes(b"weights")
    with pytest.raises(UsageError, match="did not write"):
        synth(theirs, overwrite=True)
    assert (theirs / "checkpoint.pt").read_bytes() == b"weights"
    with pytest.raises(UsageError, match="local directories only"):
        synth("s3://bucket/logs")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        synth(tmp_path / "file")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert synth(empty, steps=5, runs=1).runs


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_json_and_text(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(
        app,
        ["synth", str(out), "--num-steps", "50", "--corrupt", "nan,zero-pad", "--corrupt", "empty",
         "--restart-at", "20", "--format", "json", "--start", "2024-05-01"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [f["fault"] for f in data["faults"]] == ["nan", "zero-pad", "empty"]
    assert data["restart"] == {"run": data["runs"][0]["name"], "step": 20, "crashed_at": 27}
    assert data["options"]["start"] == 1714521600.0
    codes = sorted(f["code"] for f in data["expected_findings"])
    assert codes == ["empty-file", "nonfinite-value", "restart", "trailing-bytes"]
    assert data["bytes"] == sum(f["size"] for r in data["runs"] for f in r["files"])
    assert data["runs"][1]["tags"]["loss/train"]["kept"] == 50
    text = runner.invoke(app, ["synth", str(out), "--overwrite", "--num-steps", "10"])
    assert text.exit_code == 0 and "tbtool validate reports: nothing" in text.stdout
    assert re.search(r"3 run\(s\), 3 file\(s\), [\d,]+ events", text.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--num-steps", "10", "--size", "1MB"], "not both"),
        (["--kind", "scalars,video"], "unknown kind: 'video' is not one of"),
        (["--restart-at", "10", "--num-steps", "10"], "restart step must be in [1, 9]"),
        (["--restart-at", "soon"], "not a step or a percentage"),
        (["--size", "lots"], "not a size"),
        (["--start", "yesterday"], "neither seconds"),
        (["--size", "1MB", "--kind", "images"], "needs scalars"),
    ],
)
def test_cli_errors_are_one_line_exit_2(tmp_path, args, message):
    result = runner.invoke(app, ["synth", str(tmp_path / "x"), *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tbtool: error:") and message in lines[0]


def test_readme_first_command_works(tmp_path):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "tbtool synth demo --overwrite && tbtool ls demo" in readme
    for _ in range(2):  # runnable again and again
        result = runner.invoke(app, ["synth", str(tmp_path / "demo"), "--overwrite"])
        assert result.exit_code == 0, result.output
    listing = runner.invoke(app, ["ls", str(tmp_path / "demo")])
    assert listing.exit_code == 0 and "loss/train" in listing.stdout


def test_every_fault_and_option_is_documented():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "synth.md").read_text()
    for name, fault in FAULTS.items():
        assert f"| `{name}` | `{fault.code}` |" in doc, name
    import tbtool.cli.synth  # noqa: F401 - registers the command

    command = typer.main.get_group(app).commands["synth"]
    options = [o for p in command.params for o in p.opts if o.startswith("--") and o != "--help"]
    assert "--num-steps" in options and "--kind" in options
    for option in options:
        assert f"`{option}" in doc, option
