"""What a logdir holds, at a glance: the library side of ``tbtool ls``.

Per run: its event files (size, events, how reading ended), and per tag its kind, number of
values, step range, first/last wall time and, for scalars, the last value. Counts are after
purge semantics unless the reader was opened with ``purge=False``. The values come through the
batch path as column blocks and are summarized per (tag, kind) with array operations; only
whole-event values (file versions, session logs) are looked at one by one. Wall-time spans
count finite wall times only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tbtool.columnar.decoder import describe
from tbtool.columnar.pieces import ValueBlock
from tbtool.columnar.walk import Progress, file_size
from tbtool.format.record import ReadState
from tbtool.reading.reader import Reader
from tbtool.runs.damage import FileDamage
from tbtool.runs.logdir import tag_matcher
from tbtool.values.typed import EVENT_KINDS, KINDS, SUMMARY_KINDS, json_float


@dataclass(slots=True)
class TagSummary:
    """One (tag, kind) series of a run."""

    tag: str
    kind: str
    plugin_name: str
    count: int = 0
    first_step: int = 0
    last_step: int = 0
    min_step: int = 0
    max_step: int = 0
    first_wall_time: float = 0.0
    last_wall_time: float = 0.0
    last_value: float | None = None

    def merge(self, part: TagSummary) -> None:
        """Fold in the summary of the same series' next values (read order)."""
        if self.count == 0:
            self.first_step, self.min_step, self.max_step = (
                part.first_step,
                part.min_step,
                part.max_step,
            )
            self.first_wall_time = part.first_wall_time
        self.count += part.count
        self.last_step = part.last_step
        self.min_step = min(self.min_step, part.min_step)
        self.max_step = max(self.max_step, part.max_step)
        self.last_wall_time = part.last_wall_time
        if part.last_value is not None:
            self.last_value = part.last_value

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "kind": self.kind,
            "plugin_name": self.plugin_name,
            "count": self.count,
            "min_step": self.min_step,
            "max_step": self.max_step,
            "first_wall_time": json_float(self.first_wall_time),
            "last_wall_time": json_float(self.last_wall_time),
            "last_step": self.last_step,
            "last_value": None if self.last_value is None else json_float(self.last_value),
        }


@dataclass(slots=True)
class FileSummary:
    """One event file of a run."""

    path: str
    size: int
    events: int = 0
    state: str = ReadState.CLEAN_EOF.value
    pending_bytes: int = 0
    file_version: str = ""
    writer: str = ""
    damage: FileDamage | None = None  # what is wrong with it, in validate's words

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "events": self.events,
            "state": self.state,
            "pending_bytes": self.pending_bytes,
            "file_version": self.file_version,
            "writer": self.writer,
            "damage": None if self.damage is None else self.damage.to_json(),
        }


@dataclass(slots=True)
class RunSummary:
    """A run: files, tags and time span."""

    name: str
    directory: str
    files: list[FileSummary] = field(default_factory=list)
    tags: dict[tuple[str, str], TagSummary] = field(default_factory=dict)
    restarts: int = 0
    first_wall_time: float | None = None
    last_wall_time: float | None = None

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def tags_by_kind(self) -> dict[str, list[TagSummary]]:
        """Tags grouped by kind, kinds in the canonical order, tags sorted."""
        grouped: dict[str, list[TagSummary]] = {}
        for kind in SUMMARY_KINDS:
            series = sorted((t for t in self.tags.values() if t.kind == kind), key=_tag_key)
            if series:
                grouped[kind] = series
        return grouped

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.name,
            "directory": self.directory,
            "size": self.size,
            "restarts": self.restarts,
            "first_wall_time": _opt_float(self.first_wall_time),
            "last_wall_time": _opt_float(self.last_wall_time),
            "files": [f.to_json() for f in self.files],
            "tags": {k: [t.to_json() for t in v] for k, v in self.tags_by_kind().items()},
        }


def _tag_key(t: TagSummary) -> str:
    return t.tag


def _opt_float(x: float | None) -> float | str | None:
    return None if x is None else json_float(x)


@dataclass(slots=True)
class Inventory:
    """The result of :func:`inventory`."""

    runs: list[RunSummary]

    def to_json(self) -> dict[str, Any]:
        """The runs, and which decoder read them (:func:`tbtool.columnar.decoder.describe`)."""
        return {"runs": [r.to_json() for r in self.runs], "reader": describe()}


def inventory(
    reader: Reader,
    *,
    tags: Sequence[str] = (),
    jobs: int | None = 1,
    progress: Progress | None = None,
) -> Inventory:
    """Summarize every run the reader finds (one pass over the data, through the batch path).

    ``tags`` (glob patterns) narrows the tag list and the time span to matching series; unlike
    a tag-filtered reader, it still sees each file's ``file_version`` and the run's restarts.
    ``jobs`` and ``progress`` as in :meth:`~tbtool.LogReader.blocks`. A damaged
    file raises :class:`~tbtool.errors.DamagedFiles` unless the reader skips damage; then
    its summary says what is wrong with it (``damage``) beside what could be read.
    """
    wanted = tag_matcher(tags)
    summaries: dict[str, RunSummary] = {}
    files: dict[str, FileSummary] = {}
    for run in reader.runs:
        summary = summaries[run.name] = RunSummary(run.name, run.directory)
        summary.files = [FileSummary(path, file_size(path)) for path in run.files]
        files.update((f.path, f) for f in summary.files)
    selected: dict[str, np.ndarray] = {}  # per run: its tags' filter results, grown on demand
    for block in reader.blocks(jobs=jobs, progress=progress):
        known = selected.get(block.run, np.zeros(0, dtype=bool))
        if len(known) < len(block.tags):
            fresh = [wanted(t) for t in block.tags[len(known) :]]
            known = selected[block.run] = np.concatenate([known, np.array(fresh, dtype=bool)])
        _add_block(summaries[block.run], files, block, known, bool(tags))
    for path, file in files.items():
        status = reader.file_status.get(path)
        if status is not None:
            file.events = status.events
            file.state = status.state.value
            file.pending_bytes = status.pending_bytes
    for damage in reader.damage():
        if damage.file in files:
            files[damage.file].damage = damage
    return Inventory([summaries[run.name] for run in reader.runs])


_EVENT_KIND_CODES = np.array([KINDS.index(k) for k in EVENT_KINDS], dtype=np.int16)
_SCALAR = KINDS.index("scalar")


def _add_block(
    summary: RunSummary,
    files: dict[str, FileSummary],
    block: ValueBlock,
    selected_tags: np.ndarray,
    filtered: bool,
) -> None:
    kind = block.kind
    event_level = np.isin(kind, _EVENT_KIND_CODES)
    series = ~event_level & selected_tags[block.tag]
    span = series | event_level if not filtered else series
    walls = block.wall_time[span]
    walls = walls[np.isfinite(walls)]
    if len(walls):
        lo, hi = float(walls.min()), float(walls.max())
        if summary.first_wall_time is None or lo < summary.first_wall_time:
            summary.first_wall_time = lo
        if summary.last_wall_time is None or hi > summary.last_wall_time:
            summary.last_wall_time = hi
    for row in np.flatnonzero(event_level).tolist():
        item = block.items[row]
        if item.kind == "file_version":
            file = files.get(item.file)
            if file is not None and not file.file_version:
                file.file_version = item.value.version  # type: ignore[union-attr]
                file.writer = item.value.writer  # type: ignore[union-attr]
        elif item.kind == "session_log" and item.value.status == "START":  # type: ignore[union-attr]
            summary.restarts += 1
    rows = np.flatnonzero(series)
    if not len(rows):
        return
    key = block.tag[rows].astype(np.int64) * len(KINDS) + kind[rows]
    order = np.argsort(key, kind="stable")  # stable: read order within each series
    sorted_rows = rows[order]
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    ends = np.r_[starts[1:], len(sorted_key)]
    steps = block.step[sorted_rows]
    min_steps = np.minimum.reduceat(steps, starts).tolist()
    max_steps = np.maximum.reduceat(steps, starts).tolist()
    first_rows = sorted_rows[starts].tolist()
    last_rows = sorted_rows[ends - 1].tolist()
    for i, (first, last) in enumerate(zip(first_rows, last_rows, strict=True)):
        tag, k = block.tags[int(block.tag[first])], KINDS[int(kind[first])]
        part = TagSummary(
            tag,
            k,
            block.plugin_of(first),
            count=int(ends[i] - starts[i]),
            first_step=int(block.step[first]),
            last_step=int(block.step[last]),
            min_step=min_steps[i],
            max_step=max_steps[i],
            first_wall_time=float(block.wall_time[first]),
            last_wall_time=float(block.wall_time[last]),
            last_value=float(block.scalar[last]) if kind[last] == _SCALAR else None,
        )
        existing = summary.tags.get((tag, k))
        if existing is None:
            summary.tags[(tag, k)] = part
        else:
            existing.merge(part)
