"""Benchmark inputs, generated on the fly (byte-for-byte what torch's SummaryWriter writes for
``add_scalar``, minus the real wall times), cached under the system temp directory."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tbtool.proto import event_pb2, summary_pb2
from tbtool.record import encode_record

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
