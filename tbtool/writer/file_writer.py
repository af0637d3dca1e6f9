"""``FileWriter``: torch's low-level writer of ``Event`` protobufs into one event file.

Protobuf messages from TensorBoard, tensorboardX or tbtool are all accepted (they are
wire-compatible); the bytes are queued for the background writer (``event_file``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from tbtool.writer import wire
from tbtool.writer.convert import to_step, to_walltime
from tbtool.writer.event_file import DEFAULT_MAX_PENDING_BYTES
from tbtool.writer.upload import event_file_writer


def _serialize(message: Any, kind: str, name: str) -> bytes:
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(message)
    descriptor = getattr(message, "DESCRIPTOR", None)
    if descriptor is None or not hasattr(message, "SerializeToString"):
        raise TypeError(f"{name} must be a {kind} protobuf, not {type(message).__name__}")
    if descriptor.name != kind:
        raise TypeError(f"{name} must be a {kind} protobuf, not {descriptor.full_name}")
    return message.SerializeToString()


class FileWriter:
    """Writes ``Event`` protocol buffers to a new event file in ``log_dir`` (a directory or
    a URL: see :mod:`tbtool.writer.upload`).

    Same constructor and methods as ``torch.utils.tensorboard.writer.FileWriter``.
    ``reopen()`` (broken in torch) starts a new event file after ``close()``.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        max_queue: int = 10,
        flush_secs: float = 120,
        filename_suffix: str = "",
        *,
        purge_step: int | None = None,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
    ) -> None:
        if not isinstance(filename_suffix, str):
            raise TypeError(f"filename_suffix must be a str, not {type(filename_suffix).__name__}")
        log_dir = os.fspath(log_dir)
        if not isinstance(log_dir, str):
            raise TypeError("log_dir must be a str or path")
        self._log_dir = log_dir
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self._max_pending_bytes = max_pending_bytes
        self.event_writer = event_file_writer(
            log_dir,
            flush_secs=flush_secs,
            filename_suffix=filename_suffix,
            purge_step=purge_step,
            max_pending_bytes=max_pending_bytes,
        )

    def get_logdir(self) -> str:
        """The directory this writer writes into."""
        return self._log_dir

    @property
    def path(self) -> str:
        """The current event file."""
        return self.event_writer.path

    def add_event(self, event: Any, step: Any = None, walltime: Any = None) -> None:
        """Write an ``Event``; sets its ``wall_time`` (now unless given) and ``step``."""
        if not hasattr(event, "wall_time") or not hasattr(event, "SerializeToString"):
            raise TypeError(f"event must be an Event protobuf, not {type(event).__name__}")
        event.wall_time = time.time() if walltime is None else to_walltime(walltime)
        if step is not None:
            event.step = to_step(step, "step")
        self.event_writer.write(_serialize(event, "Event", "event"))

    def add_summary(self, summary: Any, global_step: Any = None, walltime: Any = None) -> None:
        """Write a ``Summary`` (protobuf or its serialized bytes) as one event."""
        data = _serialize(summary, "Summary", "summary")
        self.write_event(wire.message_field(wire.EVENT_SUMMARY, data), global_step, walltime)

    def add_graph(self, graph_profile: Any, walltime: Any = None) -> None:
        """Write ``(GraphDef, RunMetadata)``: a ``graph_def`` event, then the run metadata
        tagged ``step1`` (as torch does)."""
        graph, run_metadata = graph_profile
        self.write_event(
            wire.length_delimited(4, _serialize(graph, "GraphDef", "graph")), None, walltime
        )
        tagged = wire.length_delimited(1, b"step1") + wire.length_delimited(
            2, _serialize(run_metadata, "RunMetadata", "run_metadata")
        )
        self.write_event(wire.message_field(wire.EVENT_TAGGED_RUN_METADATA, tagged), None, walltime)

    def add_onnx_graph(self, graph: Any, walltime: Any = None) -> None:
        """Write a ``GraphDef`` event."""
        self.write_event(
            wire.length_delimited(4, _serialize(graph, "GraphDef", "graph")), None, walltime
        )

    def write_event(self, what: bytes, step: Any = None, walltime: Any = None) -> None:
        """Queue an event made of the wall time, the step and ``what`` (keyed field bytes)."""
        step = None if step is None else to_step(step)
        wall_time = time.time() if walltime is None else to_walltime(walltime)
        self.event_writer.write(wire.event_bytes(wall_time, step, what))

    def flush(self) -> None:
        """Return once everything written so far is in the file."""
        self.event_writer.flush()

    def close(self) -> None:
        """Write everything, ``fsync`` and close the file (a second call does nothing)."""
        self.event_writer.close()

    def reopen(self) -> None:
        """After ``close()``, continue in a new event file in the same directory."""
        if self.event_writer.closed:
            self.event_writer = event_file_writer(
                self._log_dir,
                flush_secs=self.flush_secs,
                filename_suffix=self.filename_suffix,
                max_pending_bytes=self._max_pending_bytes,
            )
