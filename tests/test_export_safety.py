"""``tbtool export`` never loses data: no output over an input, no existing output replaced
without --overwrite, nothing partial after Ctrl-C, kill -9 or a full disk, nothing at all
when nothing matched, and every table written has its full schema."""

from __future__ import annotations

import errno
import hashlib
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tbtool.cli import app
from tbtool.columnar.table_rows import SCHEMAS, TABLE_KINDS
from tbtool.errors import UsageError
from tbtool.ops.export import export
from tbtool.ops.export_media import index_schema
from tbtool.ops.export_output import ExportOutput
from tbtool.ops.synth.generate import synth
from tbtool.reading.hparams import HParamsCollector

runner = CliRunner()
TMP_PREFIX = ".tbtool-tmp-"


def run_cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def snapshot(root: Path) -> dict[str, str]:
    """Every file below ``root`` (or ``root`` itself) -> digest of its bytes; temporaries
    (``.tbtool-tmp-*``, which tests look for separately) left out."""
    if root.is_file():
        return {".": hashlib.sha256(root.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).parts[0].startswith(TMP_PREFIX)
    }


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    """Two small runs with scalars, histograms, images, text and hparams."""
    out = tmp_path_factory.mktemp("small") / "logs"
    synth(out, runs=2, steps=50)
    return out


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """About 2M scalars and 400 images: long enough an export to interrupt it."""
    out = tmp_path_factory.mktemp("big") / "logs"
    synth(out, runs=4, tags=50, steps=10_000, kinds="scalars,images")
    return out


# -- never over an input -----------------------------------------------------------------------
def test_output_inside_an_input_is_refused(logs, tmp_path):
    before = snapshot(logs)
    event_file = next(logs.glob("run0*/*tfevents*"))
    for out in (event_file, event_file.parent / "scalars.parquet", logs / "tables"):
        result = run_cli("export", logs, "-o", out, "--overwrite")
        assert result.exit_code == 2, result.output
        assert result.stderr == (
            f"tbtool: error: output {out} overlaps input {logs}: write the export elsewhere\n"
        )
    assert snapshot(logs) == before


def test_output_equal_to_or_containing_an_input_is_refused(logs, tmp_path):
    before = snapshot(logs)
    event_file = next(logs.glob("run0*/*tfevents*"))
    # The case: the event file as input and output.
    result = run_cli("export", event_file, "-o", event_file, "--overwrite")
    assert result.exit_code == 2 and "overlaps input" in result.stderr
    # A directory output that holds the logdir, or is the logdir.
    for out in (logs.parent, logs, event_file.parent):
        result = run_cli("export", logs, "-o", out, "--kind", "all", "--overwrite")
        assert result.exit_code == 2 and f"output {out} overlaps input" in result.stderr
    with pytest.raises(UsageError, match="overlaps input"):
        export(str(event_file), str(event_file.parent), kinds=["all"], overwrite=True)
    assert snapshot(logs) == before
    assert not list(logs.parent.glob(TMP_PREFIX + "*"))


def test_a_symlink_into_an_input_is_seen_through(logs, tmp_path):
    before = snapshot(logs)
    link = tmp_path / "link"
    link.symlink_to(next(logs.glob("run0*")))
    result = run_cli("export", logs, "-o", link / "x.parquet")
    assert result.exit_code == 2 and "overlaps input" in result.stderr
    assert snapshot(logs) == before


def test_an_event_file_exports_beside_itself(logs, tmp_path):
    """A single file input is not its directory: an output next to it is fine."""
    work = tmp_path / "one"
    work.mkdir()
    source = next(logs.glob("run0*/*tfevents*"))
    (work / source.name).write_bytes(source.read_bytes())
    result = run_cli("export", work / source.name, "-o", work / "scalars.parquet")
    assert result.exit_code == 0, result.output
    assert pq.read_table(work / "scalars.parquet").num_rows == 200


# -- never over an existing output unless --overwrite ------------------------------------------
def test_existing_file_refused_then_replaced_with_overwrite(logs, tmp_path):
    out = tmp_path / "s.parquet"
    out.write_bytes(b"my precious results")
    result = run_cli("export", logs, "-o", out)
    assert result.exit_code == 2
    assert result.stderr == f"tbtool: error: {out} exists; add --overwrite to replace it\n"
    assert out.read_bytes() == b"my precious results"
    result = run_cli("export", logs, "-o", out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).num_rows == 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.parquet"]


def test_an_output_symlink_is_replaced_not_written_through(logs, tmp_path):
    (tmp_path / "elsewhere.txt").write_text("mine")
    out = tmp_path / "s.parquet"
    out.symlink_to(tmp_path / "elsewhere.txt")
    assert run_cli("export", logs, "-o", out).exit_code == 2
    assert run_cli("export", logs, "-o", out, "--overwrite").exit_code == 0
    assert not out.is_symlink() and pq.read_table(out).num_rows == 400
    assert (tmp_path / "elsewhere.txt").read_text() == "mine"


def test_existing_directory_entries_refused_then_replaced(logs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert run_cli("export", logs, "-o", out, "--kind", "all").exit_code == 0
    first = snapshot(out)
    result = run_cli("export", logs, "-o", out, "--kind", "all", "--run", "run0")
    assert result.exit_code == 2
    assert result.stderr == (
        f"tbtool: error: {out / 'audio.parquet'} exists; add --overwrite to replace it\n"
    )
    assert snapshot(out) == first
    # --overwrite replaces what this export writes, nothing else; an old images/ directory
    # the new export has no use for goes too (its index table is replaced).
    result = run_cli("export", logs, "-o", out, "--kind", "all", "--tag", "loss*", "--overwrite")
    assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "images").exists()
    assert pq.read_table(out / "images.parquet").num_rows == 0
    assert pq.read_table(out / "scalars.parquet").num_rows == 200
    assert not [p for p in out.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_kinds_not_asked_for_are_left_alone(logs, tmp_path):
    out = tmp_path / "out"
    assert run_cli("export", logs, "-o", out, "--kind", "all").exit_code == 0
    text = snapshot(out / "text.parquet")
    result = run_cli("export", logs, "-o", out, "--kind", "images", "--run", "run0", "--overwrite")
    assert result.exit_code == 0, result.output
    assert snapshot(out / "text.parquet") == text
    assert {r.split("/")[1] for r in pq.read_table(out / "images.parquet")["path"].to_pylist()} == {
        "run0-sgd-lr0.003"
    }
    assert [p.name for p in (out / "images").iterdir()] == ["run0-sgd-lr0.003"]


def test_partitioned_dataset_overwrite_replaces_old_partitions(logs, tmp_path):
    out = tmp_path / "ds"
    assert run_cli("export", logs, "-o", out, "--partition-by", "run").exit_code == 0
    again = run_cli("export", logs, "-o", out, "--partition-by", "run", "--run", "run1")
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    result = run_cli(
        "export", logs, "-o", out, "--partition-by", "run", "--run", "run1", "--overwrite"
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["_common_metadata", "run=run1-adamw-lr0.01"]


def test_an_output_made_while_exporting_is_not_replaced(logs, tmp_path):
    out = tmp_path / "s.parquet"
    with ExportOutput(str(out), ["scalars"], "parquet", partition_by=None, overwrite=False,
                      inputs=[str(logs)]) as staged:  # fmt: skip
        Path(staged.staging).write_bytes(b"new")
        out.write_bytes(b"someone else's")
        with pytest.raises(UsageError, match="appeared during the export"):
            staged.commit()
    assert out.read_bytes() == b"someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["s.parquet"]


def test_a_file_in_the_way_of_the_output_directory(logs, tmp_path):
    (tmp_path / "afile").write_text("mine")
    result = run_cli("export", logs, "-o", tmp_path / "afile" / "x" / "s.parquet")
    assert result.exit_code == 2
    assert result.stderr == f"tbtool: error: {tmp_path / 'afile'}: not a directory\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_a_damaged_input_leaves_the_old_output(tmp_path):
    damaged = tmp_path / "damaged"
    synth(damaged, runs=2, steps=20, kinds="scalars", corrupt=["bitflip"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "scalars.parquet").write_bytes(b"old")
    result = run_cli("export", damaged, "-o", out, "--kind", "all", "--overwrite")
    assert result.exit_code == 2 and "data-crc-mismatch" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["scalars.parquet"]
    assert (out / "scalars.parquet").read_bytes() == b"old"


def test_a_failed_rename_puts_old_entries_back(logs, tmp_path, monkeypatch):
    """The disk refuses a rename while placing a directory export, after the old images/
    was moved aside: it is put back, so no entry goes missing (the OS call fails on purpose;
    the data is real)."""
    out = tmp_path / "out"
    export(str(logs), str(out), kinds=["all"])
    before = snapshot(out)
    replace = os.replace

    def failing(src, dst):
        if os.path.basename(dst) == "images":
            raise OSError(errno.EIO, "Input/output error", dst)
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="Input/output error"):
        export(str(logs), str(out), kinds=["all"], runs=["run0"], overwrite=True)
    monkeypatch.undo()
    assert snapshot(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(TMP_PREFIX)]


# -- nothing matched: nothing written ----------------------------------------------------------
@pytest.mark.parametrize(
    "out, args",
    [
        ("new/deeper/s.parquet", []),
        ("s.csv", []),
        ("dir", ["--kind", "all"]),
        ("dir/", ["--kind", "images"]),
        ("ds", ["--partition-by", "run"]),
        ("w.parquet", ["--wide"]),
    ],
)
def test_nothing_matched_writes_nothing(logs, tmp_path, monkeypatch, out, args):
    monkeypatch.chdir(tmp_path)
    result = run_cli("export", logs, "-o", out, "--tag", "no-such-tag*", *args)
    assert result.exit_code == 1
    assert result.stderr == "tbtool: nothing matched: no values exported, nothing written\n"
    assert list(tmp_path.iterdir()) == []


def test_nothing_matched_on_stdout_prints_nothing(logs):
    result = run_cli("export", logs, "-o", "-", "--run", "nope")
    assert result.exit_code == 1 and result.stdout == ""


def test_nothing_matched_leaves_an_existing_output(logs, tmp_path):
    out = tmp_path / "s.parquet"
    assert run_cli("export", logs, "-o", out).exit_code == 0
    before = out.read_bytes()
    result = export(str(logs), str(out), tags=["nope"], overwrite=True)
    assert result.total_rows == 0 and result.paths == {}
    assert out.read_bytes() == before


# -- empty tables have their full schema -------------------------------------------------------
def full_schema(kind: str) -> pa.Schema:
    if kind in ("images", "audio"):
        return index_schema(kind)
    if kind == "hparams":
        return HParamsCollector().table().schema
    return SCHEMAS[kind]


def test_empty_tables_of_a_directory_export_have_full_schemas(tmp_path):
    logs = tmp_path / "logs"
    synth(logs, runs=1, steps=20, kinds="scalars")
    result = export(str(logs), str(tmp_path / "out"), kinds=["all"])
    assert result.rows["scalars"] == 80 and result.rows["histograms"] == 0
    for kind in TABLE_KINDS:
        assert pq.read_schema(result.paths[kind]) == full_schema(kind), kind
    csv = export(str(logs), str(tmp_path / "csv"), kinds=["all"], format="csv")
    for kind in TABLE_KINDS:
        header = Path(csv.paths[kind]).read_text().splitlines()[0]
        names = [f.name for f in full_schema(kind) if not pa.types.is_binary(f.type)]
        assert header == ",".join(f'"{n}"' for n in names), kind


def test_empty_wide_scalars_and_dataset_have_full_schemas(logs, tmp_path):
    histograms_only = tmp_path / "logs"
    synth(histograms_only, runs=1, steps=20, kinds="histograms")
    out = tmp_path / "out"
    result = export(str(histograms_only), str(out), kinds=["scalars", "histograms"], wide=True)
    assert result.rows == {"scalars": 0, "histograms": 40}
    export(str(logs), str(tmp_path / "wide.parquet"), wide=True)
    full = pq.read_schema(tmp_path / "wide.parquet").remove_metadata()
    empty = pq.read_schema(out / "scalars.parquet").remove_metadata()
    assert empty.names == ["run", "step", "wall_time"] and full.names[:3] == empty.names
    assert empty == pa.schema(list(full)[:3])
    ds = tmp_path / "ds"
    export(str(histograms_only), str(ds), kinds=["scalars", "histograms"], partition_by="run")
    assert pq.read_schema(ds / "scalars.parquet" / "_common_metadata") == SCHEMAS["scalars"]
    assert [p.name for p in (ds / "scalars.parquet").iterdir()] == ["_common_metadata"]


# -- interrupted exports -----------------------------------------------------------------------
def start_export(logdir: Path, out: Path, *args: str, **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "tbtool", "export", str(logdir), "-o", str(out), "-j", "1"]
    return subprocess.Popen(
        [*command, "-q", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen
    )


def wait_until_writing(proc: subprocess.Popen, where: Path, known: dict[str, os.stat_result]):
    """Until a new name in ``where`` holds bytes, or a known one changed."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for entry in where.iterdir():
            st = entry.stat()
            before = known.get(entry.name)
            if before is None:
                sizes = [p.stat().st_size for p in entry.rglob("*") if p.is_file()]
                if (st.st_size if entry.is_file() else sum(sizes)) > 0:
                    return
            elif (st.st_mtime_ns, st.st_size) != (before.st_mtime_ns, before.st_size):
                return
        time.sleep(0.005)
    raise AssertionError("the export never started writing")


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
@pytest.mark.parametrize("layout", ["file", "directory"])
def test_interrupted_export_leaves_the_old_output(big, tmp_path, how, layout):
    out = tmp_path / ("s.parquet" if layout == "file" else "out")
    args = [] if layout == "file" else ["--kind", "all"]
    export(str(big), str(out), kinds=args[1:] or ["scalars"], runs=["run0"])
    before = snapshot(out)
    known = {p.name: p.stat() for p in tmp_path.iterdir()}
    where = tmp_path if layout == "file" else out
    if layout == "directory":
        known = {p.name: p.stat() for p in out.iterdir()}
    proc = start_export(big, out, "--overwrite", *args)
    wait_until_writing(proc, where, known)
    proc.send_signal(how)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert snapshot(out) == before, "the old output changed"
    leftovers = [p.name for p in where.iterdir() if p.name not in known]
    if how == signal.SIGINT:
        assert leftovers == []
    else:  # kill -9 cannot clean up: at most a hidden temporary, never a partial output
        assert all(name.startswith(TMP_PREFIX) for name in leftovers), leftovers


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_export_leaves_no_new_output(big, tmp_path, how):
    proc = start_export(big, tmp_path / "new" / "out", "--kind", "all")
    wait_until_writing(proc, tmp_path, {})
    proc.send_signal(how)
    proc.communicate(timeout=60)
    names = [p.name for p in (tmp_path / "new").iterdir()] if (tmp_path / "new").exists() else []
    assert "out" not in names
    if how == signal.SIGINT:
        assert not (tmp_path / "new").exists()  # the directory made for it is gone too
    else:
        assert all(name.startswith(TMP_PREFIX) for name in names), names


def test_full_disk_leaves_the_old_output(big, tmp_path):
    """A write that fails (here: a file size limit, as a full disk would) leaves the old
    output as it was and nothing new, with one line naming the error."""
    out = tmp_path / "s.jsonl"
    out.write_text('{"mine": 1}\n')

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    proc = start_export(big, out, "--overwrite", preexec_fn=limit)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.decode() == f"tbtool: error: {out}: File too large; the export was not written\n"
    assert out.read_text() == '{"mine": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jsonl"]
