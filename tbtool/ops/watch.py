"""The state behind ``tbtool watch``: per run, the latest value of each scalar tag, steps per
second and the wall time of the last event, kept up to date as files grow.

The first :meth:`Watch.poll` reads everything through the batch path (:func:`inventory`);
later polls read only what was appended since (each file resumes at the byte offset where
reading stopped, new files and runs are picked up), event by event, which is cheap for what
a training job writes between two polls. A tag's kind comes from what the first read saw, so
values written as tensors (TF2, Keras) stay scalars. Purge semantics do not apply to a
stream that has not ended (as with ``dump --follow``): a restart shows its new values.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from tbtool.proto import summary_pb2
from tbtool.reading.inventory import inventory
from tbtool.reading.log_reader import LogReader
from tbtool.runs.events import EventFileReader
from tbtool.values.normalize import Normalizer, event_values
from tbtool.values.typed import Scalar

#: Steps per second are measured over the events of this many seconds of wall time.
RATE_WINDOW = 60.0


@dataclass
class TagState:
    """The latest scalar of one tag."""

    step: int
    value: float
    wall_time: float


@dataclass
class RunState:
    """One run as the live view shows it."""

    name: str
    tags: dict[str, TagState] = field(default_factory=dict)
    last_wall_time: float | None = None
    step: int | None = None
    history: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=10_000))

    def seen(self, wall_time: float, step: int) -> None:
        if self.last_wall_time is None or wall_time >= self.last_wall_time:
            self.last_wall_time = wall_time
        self.step = step if self.step is None else max(self.step, step)
        self.history.append((wall_time, step))
        # Keep the last entry before the window too: the rate spans the whole window.
        while len(self.history) > 2 and self.history[-1][0] - self.history[1][0] > RATE_WINDOW:
            self.history.popleft()

    @property
    def steps_per_second(self) -> float | None:
        """Steps gained per second of wall time over the last RATE_WINDOW seconds."""
        if len(self.history) < 2:
            return None
        (t0, s0), (t1, s1) = self.history[0], self.history[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else None


_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
)


class Watch:
    """Polls PATHs (local or URLs) and keeps a :class:`RunState` per run."""

    def __init__(
        self,
        paths: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        runs: Sequence[str] = (),
        tags: Sequence[str] = (),
    ) -> None:
        # A live view shows what it can: damaged records are skipped and collected in
        # ``reader.problems`` (complete once :meth:`close` has run) for the caller to report.
        self.reader = LogReader(paths, runs=runs, purge=False, skip_corrupt=True)
        self.tag_patterns = list(tags)
        self.tag_ok = LogReader(paths, tags=tags).tag_ok
        self.runs: dict[str, RunState] = {}
        self._files: dict[str, EventFileReader] = {}
        self._resume: dict[str, tuple[int, int]] = {}  # path -> (offset, record index)
        self._normalizers: dict[str, Normalizer] = {}
        self._started = False

    def poll(self) -> list[RunState]:
        """Read what is new; the runs in name order."""
        if not self._started:
            self._first_read()
            self._started = True
        else:
            self._read_appended()
        return [self.runs[name] for name in sorted(self.runs)]

    def _first_read(self) -> None:
        summary = inventory(self.reader, tags=self.tag_patterns, jobs=0)
        for run in summary.runs:
            state = self.runs[run.name] = RunState(run.name)
            normalizer = self._normalizers[run.name] = Normalizer()
            first = None
            for series in run.tags.values():
                if series.kind != "scalar":
                    continue
                normalizer.remember(series.tag, _SCALAR_METADATA)
                state.tags[series.tag] = TagState(
                    series.last_step,
                    float("nan") if series.last_value is None else series.last_value,
                    series.last_wall_time,
                )
                start = (series.first_wall_time, series.min_step)
                first = start if first is None or start < first else first
            if first is not None:
                state.seen(*first)
            for series in run.tags.values():
                if series.kind == "scalar":
                    state.seen(series.last_wall_time, series.last_step)
        for path, status in self.reader.file_status.items():
            self._resume[path] = (status.end_offset, status.events)

    def _read_appended(self) -> None:
        for run in self.reader.rediscover():
            state = self.runs.setdefault(run.name, RunState(run.name))
            normalizer = self._normalizers.setdefault(run.name, Normalizer())
            for path in run.files:
                reader = self._files.get(path)
                if reader is None:
                    offset, index = self._resume.get(path, (0, 0))
                    reader = self._files[path] = EventFileReader(
                        path, skip_corrupt=True, offset=offset, index=index
                    )
                while (record := reader.read()) is not None:
                    event = record.event
                    scalars = [
                        (tag, value)
                        for tag, _, value in event_values(event, normalizer)
                        if isinstance(value, Scalar) and self.tag_ok(tag)
                    ]
                    for tag, value in scalars:
                        state.tags[tag] = TagState(event.step, value.value, event.wall_time)
                    if scalars:
                        state.seen(event.wall_time, event.step)

    def close(self) -> None:
        """Close the files being followed."""
        for reader in self._files.values():
            self.reader.problems.extend(reader.problems)
            reader.close()
        self._files.clear()
