"""Benchmark inputs, generated on the fly and cached under the system temp directory:
``tbtool synth`` logdirs (scalars, every kind by size), histogram- and image-heavy runs
written by tbtool's SummaryWriter, and (for the older per-module benchmarks) one file of
torch-style ``add_scalar`` events."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from tbtool.format.record import encode_record
from tbtool.proto import event_pb2, summary_pb2

CACHE = Path(tempfile.gettempdir()) / "tbtool-bench"


def scalar_logdir(events: int, tags: int = 4) -> Path:
    """A logdir with one run and one file of ``events`` simple_value scalar events."""
    logdir = CACHE / f"scalars-{events}-{tags}"
    path = logdir / "run" / "events.out.tfevents.1700000000.bench.1.0"
    if path.exists():
        return logdir
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    header = event_pb2.Event(
        wall_time=1_700_000_000.0,
        file_version="brain.Event:2",
        source_metadata=event_pb2.SourceMetadata(
            writer="tensorboard.summary.writer.event_file_writer"
        ),
    )
    chunk: list[bytes] = [encode_record(header.SerializeToString())]
    with open(tmp, "wb") as f:
        for i in range(events):
            step, tag = divmod(i, tags)
            value = summary_pb2.Summary.Value(tag=f"metric/{tag}", simple_value=1.0 / (1 + step))
            event = event_pb2.Event(
                wall_time=1_700_000_000.0 + step * 0.01,
                step=step,
                summary=summary_pb2.Summary(value=[value]),
            )
            chunk.append(encode_record(event.SerializeToString()))
            if len(chunk) >= 10_000:
                f.write(b"".join(chunk))
                chunk.clear()
        f.write(b"".join(chunk))
    os.replace(tmp, path)
    return logdir


def _cached(name: str, make: Callable[[Path], object]) -> Path:
    """``CACHE/name``, made by ``make(path)`` unless a complete earlier one is there."""
    logdir = CACHE / name
    marker = CACHE / f"{name}.complete"
    if marker.exists() and logdir.exists():
        return logdir
    shutil.rmtree(logdir, ignore_errors=True)
    make(logdir)
    marker.write_text("")
    return logdir


def synth_scalars(events: int, runs: int = 1, tags: int = 4) -> Path:
    """``tbtool synth`` scalars: ``runs`` runs of ``tags`` tags, ``events`` values in all
    (one file per run, torch style)."""
    from tbtool.ops.synth.generate import synth

    steps = max(1, events // (runs * tags))
    return _cached(
        f"synth-scalars-{runs}x{tags}x{steps}",
        lambda out: synth(out, runs=runs, tags=tags, steps=steps, kinds="scalars"),
    )


def synth_size(size: str, runs: int = 8) -> Path:
    """``tbtool synth --size``: a logdir of every default kind, ``size`` of event files."""
    from tbtool.ops.synth.generate import synth

    return _cached(f"synth-size-{size}-{runs}", lambda out: synth(out, runs=runs, size=size))


def histogram_logdir(histograms: int, buckets: int, tags: int = 10) -> Path:
    """One run of ``histograms`` histograms of ``buckets`` buckets each (``tags`` tags),
    written by tbtool's SummaryWriter (synth's histograms have torch's default buckets)."""
    import numpy as np

    from tbtool import SummaryWriter

    def make(out: Path) -> None:
        rng = np.random.default_rng(0)
        edges = np.linspace(-4.0, 4.0, buckets + 1)
        base = np.histogram(rng.normal(size=100_000), bins=edges)[0].astype(np.float64)
        with SummaryWriter(str(out / "run")) as w:
            for i in range(histograms):
                step, tag = divmod(i, tags)
                counts = np.roll(base, step % 7)
                w.add_histogram_raw(
                    f"weights/layer{tag}", min=-4.0, max=4.0, num=float(counts.sum()),
                    sum=float(step), sum_squares=float(counts.sum()),
                    bucket_limits=edges[1:], bucket_counts=counts, global_step=step,
                    walltime=1_700_000_000.0 + step,
                )  # fmt: skip

    return _cached(f"histograms-{histograms}x{buckets}", make)


def image_logdir(images: int, side: int = 128, tags: int = 4) -> Path:
    """One run of ``images`` RGB PNGs of ``side`` x ``side`` (a pattern plus noise, so they do
    not compress to nothing), written by tbtool's SummaryWriter."""
    import numpy as np

    from tbtool import SummaryWriter

    def make(out: Path) -> None:
        rng = np.random.default_rng(0)
        y, x = np.mgrid[0:side, 0:side] / side
        pattern = np.stack([np.sin(6 * x), np.cos(6 * y), x * y])
        with SummaryWriter(str(out / "run")) as w:
            for i in range(images):
                step, tag = divmod(i, tags)
                noise = rng.random((3, side, side)) * 0.3
                image = np.clip(0.5 + 0.35 * pattern + noise - 0.15, 0, 1).astype(np.float32)
                w.add_image(f"samples/{tag}", image, step, walltime=1_700_000_000.0 + step)

    return _cached(f"images-{images}x{side}", make)


def event_files(logdir: Path) -> list[Path]:
    return sorted(p for p in logdir.rglob("*tfevents*") if p.is_file())


def logdir_bytes(logdir: Path) -> int:
    """Bytes of the event files under ``logdir``."""
    return sum(p.stat().st_size for p in event_files(logdir))
