"""What the real-server remote tests share, whatever the object store (S3 via moto,
GCS via an emulator): loopback ports, environment patches, buckets, uploads, listings, the
in-process CLI and a logdir with restarts, sub-runs and a stray file to compare against."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
from typer.testing import CliRunner, Result

import tbtool
from tbtool import storage
from tbtool.cli import app
from tbtool.storage import filesystems

runner = CliRunner()


def free_port() -> int:
    """A loopback port nobody listens on now (the server binds it right after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, seconds: float = 30.0) -> None:
    """Return once something accepts connections on the loopback port; ``OSError`` after
    ``seconds`` (a server that never came up)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the duration (CLI subprocesses inherit them), then restore."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def reset_filesystems() -> None:
    """Forget cached filesystem objects: they hold an endpoint and credentials that are
    gone once a test server stops."""
    filesystems._resolve.cache_clear()
    with contextlib.suppress(Exception):
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
    with contextlib.suppress(Exception):
        import gcsfs.core

        gcsfs.core.GCSFileSystem.clear_instance_cache()


def cli(*args: object) -> Result:
    """Run tbtool's CLI in this process (arguments may be paths)."""
    return runner.invoke(app, [str(a) for a in args])


def new_bucket(scheme: str) -> str:
    """A new, empty bucket as a ``scheme://name`` URL."""
    name = f"tb-{uuid.uuid4().hex[:10]}"
    fs, _ = storage.filesystem(f"{scheme}://{name}")
    fs.mkdir(name)
    return f"{scheme}://{name}"


def upload_dir(local: str | os.PathLike[str], url: str) -> str:
    """Upload a local directory's files below ``url``; returns ``url``."""
    fs, key = storage.filesystem(url)
    fs.put(str(local), key, recursive=True)
    return url


def keys(url: str) -> list[str]:
    """Every object below ``url``, relative to it, sorted."""
    return sorted(storage.relative(u, url) for u in storage.list_files(url))


def write_logdir(root: Path) -> Path:
    """A logdir exercising what differs remotely: a run with a restart (a second file),
    nested runs, hparams, images, histograms, text, and a file that is not event data."""
    rng = np.random.default_rng(0)
    with tbtool.SummaryWriter(root / "train") as w:
        for i in range(60):
            w.add_scalar("loss", 1 / (1 + i), i)
            if i % 10 == 0:
                w.add_histogram("w", rng.normal(size=100), i)
                w.add_text("note", f"step {i}", i)
        w.add_image("img", np.zeros((3, 4, 5), dtype=np.uint8), 0)
    with tbtool.SummaryWriter(root / "train", purge_step=40) as w:  # a restart: 2nd file
        for i in range(40, 70):
            w.add_scalar("loss", -i, i)
    with tbtool.SummaryWriter(root / "eval" / "sub") as w:
        for i in range(5):
            w.add_scalar("acc", i / 5, i)
        w.add_hparams({"lr": 0.1, "opt": "sgd"}, {"acc": 0.8}, run_name="hp")
    (root / "eval" / "notes.txt").write_text("not events")
    return root


def check_readers_equal(url: str, local: Path) -> None:
    """Every reader gives the same frame from the store as from the local copy."""
    for read in (
        tbtool.read_scalars,
        tbtool.read_histograms,
        tbtool.read_text,
        tbtool.read_images,
        tbtool.read_hparams,
    ):
        remote, here = read(url), read(str(local))
        assert len(remote) and remote.equals(here), read.__name__


def check_folder_markers(bucket: str, local_logdir: Path, tmp: Path) -> None:
    """``dir/`` objects (folder markers from the GCS console, TensorFlow's gfile makedirs or
    S3 tools) behave as the local empty directories they stand for: no file named like the
    folder, an empty folder has no runs, and a merge may write into one."""
    url = upload_dir(local_logdir, bucket + "/runs")
    fs, key = storage.filesystem(bucket)
    for marker in ("runs/", "runs/train/", "empty/", "out/"):
        fs.pipe_file(f"{key}/{marker}", b"")
    assert keys(url) == keys_of_local(local_logdir)
    assert storage.isdir(f"{bucket}/empty") and not storage.isfile(f"{bucket}/empty")
    (tmp / "empty").mkdir()
    for where in (f"{bucket}/empty", tmp / "empty"):
        result = cli("ls", where, "--format", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["runs"] == []
    result = cli("merge", f"{url}/train", "-o", f"{bucket}/out")
    assert result.exit_code == 0, result.output
    assert [k for k in keys(f"{bucket}/out") if "tfevents" in k]
    assert tbtool.read_scalars(url).equals(tbtool.read_scalars(str(local_logdir)))


def keys_of_local(root: Path) -> list[str]:
    """Every file below a local directory, relative to it, sorted (as :func:`keys`)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
