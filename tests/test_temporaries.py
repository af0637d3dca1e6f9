"""Leftovers of killed commands (issue 17, item 7): temporaries say who owns them, stale ones
of dead processes on this host are removed by the next command writing there (and said so),
live ones and other hosts' are kept and reported, a killed ``merge -o`` can be run again,
and ``merge --strict`` fails CI when input bytes were dropped. Real processes, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tbtool.ops.synth.generate import synth
from tbtool.ops.validate import validate
from tbtool.storage.temporaries import PREFIX, judge, owner, this_host

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def tbtool(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tbtool", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def leftover(directory: Path, host: str, pid: int, *, size: int = 4096, is_dir=False) -> Path:
    path = directory / f"{PREFIX}{host}-{pid}-0123456789ab"
    if is_dir:
        path.mkdir()
        (path / "0").write_bytes(b"x" * size)
    else:
        path.write_bytes(b"x" * size)
    return path


def event_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*tfevents*"))


def temporaries(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(f"{PREFIX}*"))


@pytest.fixture
def small(tmp_path) -> Path:
    synth(tmp_path / "logdir", runs=1, steps=50, kinds="scalars")
    return tmp_path / "logdir"


def codes(path: Path) -> dict[str, str]:
    return {f.file: f.code for f in validate(path).findings if "temporary" in f.code}


# -- names ----------------------------------------------------------------------------------
def test_names_carry_host_and_pid():
    assert owner(f"{PREFIX}my-host.example-4242-0123456789ab") == ("my-host.example", 4242)
    assert owner(f"{PREFIX}4242-0123456789ab") == (None, 4242)  # an older tbtool's


# -- stale, live, foreign -------------------------------------------------------------------
def test_stale_temporary_of_a_dead_process_is_removed_by_the_next_write_and_said_so(small):
    run = next(p for p in small.iterdir() if p.is_dir())
    stale_file = leftover(run, this_host(), dead_pid(), size=5000)
    stale_dir = leftover(run, this_host(), dead_pid(), is_dir=True)
    assert judge(str(stale_file)).status == "stale"
    assert codes(small) == {str(stale_file): "stale-temporary", str(stale_dir): "stale-temporary"}
    listed = tbtool("ls", small)
    assert listed.returncode == 0 and "leftover temporaries" in listed.stdout
    assert str(stale_file) in listed.stdout and "no longer running" in listed.stdout
    assert json.loads(tbtool("ls", small, "--format", "json").stdout)["temporaries"][0]["status"]
    assert stale_file.exists()  # ls only notes it

    purged = tbtool("purge", run, "--step", "40", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert not stale_file.exists() and not stale_dir.exists()
    assert f"removed {stale_file} (5,000 bytes)" in purged.stderr
    assert f"removed {stale_dir}" in purged.stderr
    assert temporaries(small) == []


def test_a_live_temporary_is_kept_and_reported(small):
    run = next(p for p in small.iterdir() if p.is_dir())
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from tbtool.storage.temporaries import temporary_file\n"
            f"with temporary_file({str(run)!r}) as path:\n"
            "    print(path, flush=True)\n"
            "    sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        path = holder.stdout.readline().strip()
        assert judge(path).status == "live"
        assert codes(small) == {path: "temporary-in-use"}
        purged = tbtool("purge", run, "--step", "40", "--yes")
        assert purged.returncode == 0 and Path(path).exists()
        assert "removed" not in purged.stderr
    finally:
        holder.kill()
        holder.wait()
    # killed: its temporary is a leftover now, and the next write removes it
    assert judge(path).status == "stale"
    assert tbtool("purge", run, "--step", "30", "--yes").returncode == 0
    assert not Path(path).exists()


def test_a_running_pid_without_the_lock_is_not_removed(small):
    """A pid that runs may be another program that reused it: keep (and report) rather than
    risk removing a live temporary."""
    run = next(p for p in small.iterdir() if p.is_dir())
    path = leftover(run, this_host(), os.getpid())
    assert judge(str(path)).status == "live"
    assert tbtool("purge", run, "--step", "40", "--yes").returncode == 0
    assert path.exists()


def test_other_hosts_and_older_names_are_reported_never_removed(small):
    run = next(p for p in small.iterdir() if p.is_dir())
    other = leftover(run, "another-host", dead_pid())
    older = run / f"{PREFIX}{dead_pid()}-0123456789ab"
    older.write_bytes(b"x")
    assert codes(small) == {str(other): "unowned-temporary", str(older): "unowned-temporary"}
    assert tbtool("purge", run, "--step", "40", "--yes").returncode == 0
    assert other.exists() and older.exists()
    message = next(f.message for f in validate(small).findings if f.file == str(other))
    assert "another-host" in message and "remove it by hand" in message


# -- merge -o, killed and run again ---------------------------------------------------------
@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("big") / "logdir"
    synth(root, size="120MB", runs=3, kinds="scalars,histograms")
    return root


def test_a_killed_merge_leaves_no_partial_output_and_runs_again(big, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "tbtool", "merge", str(big), "-o", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        staged = [p for p in temporaries(out) if p.is_dir()] if out.exists() else []
        # the first run's file is written and verified, the second is being written
        if staged and (staged[0] / "0").exists():
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.005)
    proc.wait()
    assert killed, "merge finished before it could be interrupted"
    assert event_files(out) == []  # nothing half-done is visible as runs
    (stale,) = [p for p in out.iterdir()]
    assert stale.name.startswith(f"{PREFIX}{this_host()}-{proc.pid}-")
    assert codes(out) == {str(stale): "stale-temporary"}

    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"removed {stale}" in again.stderr
    assert temporaries(out) == []
    clean = tmp_path / "clean"
    assert tbtool("merge", big, "-o", clean).returncode == 0
    assert event_files(out) == event_files(clean) and len(event_files(out)) == 3
    for name in event_files(out):
        assert (out / name).read_bytes() == (clean / name).read_bytes()


# -- merge --strict -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("run", "strict", "code"),
    [
        ("length_crc_flip", True, 1),
        ("length_crc_flip", False, 0),
        ("data_crc_flip_decodable", True, 1),
        ("truncated_mid_record", True, 1),
        ("nonfinite_scalars", True, 0),
    ],
)
def test_merge_strict_fails_when_input_bytes_were_dropped(tmp_path, run, strict, code):
    args = ["--strict"] if strict else []
    result = tbtool("merge", FIXTURES / "corrupt" / "logdir" / run, "-o", tmp_path / "o", *args)
    assert result.returncode == code, result.stderr
    assert len(event_files(tmp_path / "o")) == 1  # written either way
    if code:
        (dropped,) = [x for x in result.stderr.splitlines() if x.startswith("tbtool: dropped:")]
        assert "skipped bytes" in dropped and run in dropped
        assert "merge --strict: 1 stretch(es) of input bytes left out" in result.stderr
