"""tbtool validate: exact findings on every damaged fixture, clean real-writer fixtures, and
random damage always detected."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tbtool.cli import app
from tbtool.errors import UsageError
from tbtool.format.record import RECORD_OVERHEAD, RecordWriter, encode_record
from tbtool.ops.validate import CODES, validate
from tbtool.proto import event_pb2, hparams_pb2, summary_pb2

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CORRUPT = FIXTURES / "corrupt" / "logdir"
runner = CliRunner()

# run -> the findings (code, severity, offset, index, tag, count) validate must report.
EXPECTED_CORRUPT = {
    "absurd_length": [("record-too-large", "error", 122, 3, None, 1)],
    "data_crc_flip_decodable": [("data-crc-mismatch", "error", 122, 3, None, 1)],
    "data_crc_flip_undecodable": [("data-crc-mismatch", "error", 122, 3, None, 1)],
    "data_crc_footer_flip": [("data-crc-mismatch", "error", 122, 3, None, 1)],
    "empty": [("empty-file", "warning", None, None, None, 1)],
    "first_record_not_file_version": [("missing-file-version", "warning", 0, 0, None, 1)],
    "garbage": [("not-event-file", "error", 0, 0, None, 1)],
    "histogram_bad_counts": [
        ("histogram-count-mismatch", "error", 40, 1, "hist/bad_counts", 1),
        ("undecodable-value", "error", 176, 2, "hist/length_mismatch", 1),
    ],
    "length_crc_flip": [("length-crc-mismatch", "error", 122, 3, None, 1)],
    "no_file_version_out_of_order": [
        ("missing-file-version", "warning", 0, 0, None, 1),
        ("wall-time-backwards", "warning", 166, 4, None, 1),
        ("step-backwards", "warning", 166, 4, "loss", 1),
    ],
    "nonfinite_scalars": [
        ("nonfinite-value", "warning", 40, 1, "loss", 3),
        ("nonfinite-value", "warning", 164, 4, "loss_tensor", 2),
    ],
    "nonfinite_wall_time": [("nonfinite-wall-time", "error", 80, 2, None, 3)],
    "trailing_partial_junk": [("truncated-record", "warning", 248, 6, None, 1)],
    "trailing_zero_padding": [("trailing-bytes", "warning", 248, 6, None, 1)],
    "truncated_in_header": [("truncated-record", "warning", 206, 5, None, 1)],
    "truncated_mid_record": [("truncated-record", "warning", 206, 5, None, 1)],
    "valid_crc_not_event": [("undecodable-event", "error", 122, 3, None, 1)],
}

# Warnings the clean real-writer fixtures do produce, and why (docs/findings.md).
EXPECTED_CLEAN_WARNINGS = {
    # explicit walltime= arguments in the generators go back in time between method groups
    "torch_all": {"wall-time-backwards", "empty-value"},  # + torch add_video under moviepy 2
    "tbx_all": {"wall-time-backwards"},
    "torch_purge": {"wall-time-backwards"},  # the resumed writer's START carries real time
    "tbx_purge": {"wall-time-backwards"},
    "torch_video_gif": {"wall-time-backwards"},
    # the generator logged "validation/loss" in the session run, not "loss" in validation/
    "tf2_all": {"hparams-metric-missing"},
    "keras_fit": set(),
    "tf1_legacy": set(),
}


def findings_by_run(report):
    out = {}
    for f in report.findings:
        out.setdefault(f.run, []).append((f.code, f.severity, f.offset, f.index, f.tag, f.count))
    return out


def test_every_corrupt_fixture_gives_exactly_the_expected_findings():
    report = validate(CORRUPT)
    got = findings_by_run(report)
    assert got == EXPECTED_CORRUPT
    assert report.files == 17
    for f in report.findings:
        assert f.file is not None and f.file.startswith(str(CORRUPT))


def test_strict_makes_truncation_an_error():
    report = validate(CORRUPT / "truncated_mid_record", strict=True)
    assert [(f.code, f.severity) for f in report.findings] == [("truncated-record", "error")]


def test_recently_modified_truncated_file_may_still_be_written(tmp_path):
    path = tmp_path / "events.out.tfevents.1.h"
    shutil.copy(next((CORRUPT / "truncated_mid_record").iterdir()), path)
    (finding,) = validate(tmp_path).findings
    assert "may still be being written" in finding.message
    os.utime(path, (1, 1))
    (finding,) = validate(tmp_path).findings
    assert "stopped mid-record" in finding.message


@pytest.mark.parametrize("name", sorted(EXPECTED_CLEAN_WARNINGS))
def test_real_writer_fixtures_have_no_errors(name):
    report = validate(FIXTURES / name / "logdir")
    assert report.count("error") == 0, report.findings
    assert {f.code for f in report.findings if f.severity == "warning"} == (
        EXPECTED_CLEAN_WARNINGS[name]
    )


def test_restarts_are_reported_with_orphan_counts():
    report = validate(FIXTURES / "torch_purge" / "logdir")
    (restart,) = [f for f in report.findings if f.code == "restart"]
    # loss, other and loss_new_style at steps 5..9 of the first file
    assert restart.step == 5 and "drops 15" in restart.message and restart.severity == "info"
    assert restart.offset is not None and restart.index == 2


def test_restart_resets_step_checks_and_ignore(tmp_path):
    report = validate(FIXTURES / "tf1_legacy" / "logdir")
    assert not [f for f in report.findings if f.code in ("step-backwards", "duplicate-step")]
    ignored = validate(CORRUPT / "no_file_version_out_of_order", ignore=["step-backwards"])
    assert "step-backwards" not in {f.code for f in ignored.findings}
    with pytest.raises(UsageError):
        validate(CORRUPT, ignore=["no-such-code"])


def _write(path: Path, events: list[event_pb2.Event]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with RecordWriter(path) as w:
        w.write(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        for e in events:
            w.write(e.SerializeToString())


def _scalar(step: int, tag: str = "loss", value: float = 1.0, wall: float = 2.0, plugin=None):
    v = summary_pb2.Summary.Value(tag=tag, simple_value=value)
    if plugin:
        v.metadata.plugin_data.plugin_name = plugin
    return event_pb2.Event(wall_time=wall, step=step, summary=summary_pb2.Summary(value=[v]))


def test_duplicates_kind_changes_and_images(tmp_path):
    def tiny_png(w, h):
        def chunk(kind, data):
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        raw = b"".join(b"\x00" + b"\x00\x00\x00" * w for _ in range(h))
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b"")
        )

    image = summary_pb2.Summary.Image(
        height=4, width=4, colorspace=3, encoded_image_string=tiny_png(2, 3)
    )
    bad = summary_pb2.Summary.Image(height=1, width=1, encoded_image_string=b"not an image")
    events = [
        _scalar(1),
        _scalar(1),
        _scalar(2),
        _scalar(3, tag="x"),
        _scalar(4, tag="x", plugin="text"),
        event_pb2.Event(
            wall_time=2.0,
            step=1,
            summary=summary_pb2.Summary(
                value=[
                    summary_pb2.Summary.Value(tag="img", image=image),
                    summary_pb2.Summary.Value(tag="bad", image=bad),
                    summary_pb2.Summary.Value(tag="video"),
                ]
            ),
        ),
    ]
    _write(tmp_path / "r" / "events.out.tfevents.1.h", events)
    got = {(f.code, f.tag): f for f in validate(tmp_path).findings}
    assert set(got) == {
        ("duplicate-step", "loss"),
        ("kind-changed", "x"),
        ("image-size-mismatch", "img"),
        ("image-undecodable", "bad"),
        ("empty-value", "video"),
    }
    assert "declared 4x4, the png is 2x3" in got[("image-size-mismatch", "img")].message
    changed = got[("kind-changed", "x")].message
    assert changed == "tag was scalar (plugin ''), now scalar (plugin 'text')"


def test_logdir_level_findings(tmp_path):
    _write(tmp_path / "only_meta" / "events.out.tfevents.1.h", [])
    (tmp_path / "renamed").mkdir()
    shutil.copy(next((FIXTURES / "torch_purge" / "logdir").iterdir()), tmp_path / "renamed" / "x")
    content = hparams_pb2.HParamsPluginData(session_start_info=hparams_pb2.SessionStartInfo())
    start = summary_pb2.Summary.Value(tag="_hparams_/session_start_info")
    start.metadata.plugin_data.plugin_name = "hparams"
    start.metadata.plugin_data.content = content.SerializeToString()
    _write(
        tmp_path / "session" / "events.out.tfevents.1.h",
        [event_pb2.Event(summary=summary_pb2.Summary(value=[start]))],
    )
    codes = {(f.code, f.run, f.file) for f in validate(tmp_path).findings}
    assert ("run-without-summaries", "only_meta", None) in codes
    assert ("hparams-no-experiment", "session", None) in codes
    assert ("unrecognized-event-file", None, str(tmp_path / "renamed" / "x")) in codes


def _valid_file(tmp_path_factory) -> tuple[bytes, list[int]]:
    events = [_scalar(s, value=s * 0.5, wall=10.0 + s) for s in range(6)]
    payloads = [event_pb2.Event(wall_time=1, file_version="brain.Event:2").SerializeToString()]
    payloads += [e.SerializeToString() for e in events]
    data, starts = b"", []
    for p in payloads:
        starts.append(len(data))
        data += encode_record(p)
    return data, starts


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_flipped_byte_is_an_error_at_or_before_it(tmp_path_factory, data):
    original, starts = _valid_file(tmp_path_factory)
    pos = data.draw(st.integers(min_value=0, max_value=len(original) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    damaged = bytearray(original)
    damaged[pos] ^= flip
    path = tmp_path_factory.mktemp("flip") / "events.out.tfevents.1.h"
    path.write_bytes(bytes(damaged))
    report = validate(path)
    errors = [f for f in report.findings if f.severity == "error"]
    assert errors, (pos, flip)
    record_start = max(s for s in starts if s <= pos)
    assert errors[0].offset is not None and errors[0].offset <= record_start


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_cut_inside_a_record_is_detected(tmp_path_factory, data):
    original, starts = _valid_file(tmp_path_factory)
    cut = data.draw(st.integers(min_value=1, max_value=len(original) - 1))
    path = tmp_path_factory.mktemp("cut") / "events.out.tfevents.1.h"
    path.write_bytes(original[:cut])
    # (a cut right after the file_version record also leaves a run without summaries)
    findings = [f for f in validate(path).findings if f.code != "run-without-summaries"]
    if cut in starts:  # a cut at a record boundary leaves a valid, shorter file
        assert findings == []
    else:
        (f,) = findings
        assert f.code == "truncated-record" and f.offset == max(s for s in starts if s < cut)
        assert f.offset + RECORD_OVERHEAD > 0


# -- the command ------------------------------------------------------------------------------
def test_cli_exit_codes_and_formats():
    clean = runner.invoke(app, ["validate", str(FIXTURES / "keras_fit" / "logdir")])
    assert clean.exit_code == 0 and "0 error(s)" in clean.stdout
    bad = runner.invoke(app, ["validate", str(CORRUPT), "--format", "json"])
    assert bad.exit_code == 1
    data = json.loads(bad.stdout)
    assert data["files"] == 17 and data["records"] > 0
    assert set(data["findings"][0]) >= {
        "severity",
        "code",
        "message",
        "file",
        "offset",
        "index",
        "run",
        "tag",
        "step",
    }
    warn = runner.invoke(app, ["validate", str(CORRUPT / "empty")])
    assert warn.exit_code == 0
    assert (
        runner.invoke(app, ["validate", str(CORRUPT / "empty"), "--fail-on", "warning"]).exit_code
        == 1
    )
    assert (
        runner.invoke(
            app, ["validate", str(CORRUPT / "truncated_mid_record"), "--strict"]
        ).exit_code
        == 1
    )
    assert runner.invoke(app, ["validate", "/no/such/path"]).exit_code == 2
    assert runner.invoke(app, ["validate", str(CORRUPT), "--ignore", "bogus"]).exit_code == 2


def test_cli_junit_and_github():
    junit = runner.invoke(app, ["validate", str(CORRUPT), "--format", "junit"])
    root = ET.fromstring(junit.stdout.split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite.get("tests") == "17" and suite.get("failures") == "9"
    failing = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert any(c.find("failure").get("type") == "length-crc-mismatch" for c in failing)
    github = runner.invoke(app, ["validate", str(CORRUPT), "--format", "github"]).stdout
    lines = github.splitlines()
    assert len(lines) == 21
    assert any(
        line.startswith("::error file=") and "title=tbtool length-crc-mismatch::" in line
        for line in lines
    )
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines)


def test_every_code_is_documented():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "findings.md").read_text()
    for code in CODES:
        assert f"`{code}`" in doc, code


def test_cli_text_report_in_a_subprocess():
    result = subprocess.run(
        [sys.executable, "-m", "tbtool", "validate", str(CORRUPT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "length-crc-mismatch" in result.stdout
    assert "validate: 17 file(s)" in result.stdout and result.stderr == ""


@pytest.mark.parametrize("name", ["corrupt", "torch_all", "tf2_all", "tf1_legacy", "keras_fit"])
def test_pure_python_decoder_gives_the_same_findings(name, monkeypatch):
    native = validate(FIXTURES / name / "logdir").to_json()
    monkeypatch.setenv("TBTOOL_PURE_PYTHON", "1")
    assert validate(FIXTURES / name / "logdir").to_json() == native


def test_repeated_findings_fold_into_one(tmp_path):
    """A NaN in every step of a large file is one finding with the full count."""
    events = [_scalar(s, value=float("nan"), wall=10.0 + s) for s in range(30_000)]
    _write(tmp_path / "events.out.tfevents.1.h", events)
    (finding,) = validate(tmp_path).findings
    assert (finding.code, finding.count, finding.step) == ("nonfinite-value", 30_000, 0)


def test_a_path_without_event_files_fails_the_gate(tmp_path):
    """Issue 17, item 5: validate over an empty directory must not pass a CI gate."""
    from typer.testing import CliRunner

    from tbtool.cli import app

    empty = tmp_path / "empty"
    empty.mkdir()
    report = validate(empty)
    assert [f.code for f in report.findings] == ["no-event-files"]
    assert report.findings[0].severity == "error" and report.findings[0].file == str(empty)
    assert CliRunner().invoke(app, ["validate", str(empty)]).exit_code == 1
    allowed = CliRunner().invoke(app, ["validate", str(empty), "--ignore", "no-event-files"])
    assert allowed.exit_code == 0


def test_an_unreadable_directory_is_an_error(tmp_path):
    """Issue 17, item 5: a directory tbtool cannot list is exit 2 naming it, never a pass."""
    import shutil
    import subprocess
    import sys
    import tempfile

    # A directory anyone may enter (pytest's own are private to their owner).
    top = tempfile.mkdtemp(prefix="tbtool-perm-", dir="/tmp")
    os.chmod(top, 0o755)
    logdir = Path(top) / "logs"
    locked = logdir / "locked"
    locked.mkdir(parents=True)
    locked.chmod(0)
    command = [sys.executable, "-m", "tbtool"]
    if os.geteuid() == 0:  # root reads anything: run as nobody, if nobody can run Python
        setpriv = shutil.which("setpriv")
        probe = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] if setpriv else []
        ok = setpriv and subprocess.run([*probe, *command, "--version"], capture_output=True)
        if not ok or ok.returncode != 0:
            pytest.skip("root ignores file permissions (and nobody cannot run this Python)")
        command = [*probe, *command]
    try:
        for args in (["validate", str(logdir)], ["ls", str(logdir)]):
            proc = subprocess.run([*command, *args], capture_output=True, text=True)
            assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
            assert f"{locked}: cannot read this directory" in proc.stderr, proc.stderr
    finally:
        locked.chmod(0o755)
        shutil.rmtree(top)
