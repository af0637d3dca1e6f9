"""Purge semantics: what a restart (``SessionLog`` START) erases.

A START event at step T (what ``purge_step=T`` writes, and what TF1 supervisors write on a
restart) discards every summary value of the same run seen *before* it in read order whose
step is >= T, for every tag and kind; graph and run-metadata events are never purged
(contract.md "purge semantics"; the writers' documented intent, format.md §5.6).

Because a START erases values *before* it, deciding whether a value survives needs the
restarts that come after it. The batch path finds them in its one scan, as it meets them
(:mod:`tbtool.columnar.walk`); :func:`tbtool.columnar.restarts.find_restarts` looks ahead
over whole files for the readers that must know them first, and :class:`PurgeFilter`
answers for any value in O(log R). This module holds the rules only; finding STARTs in
bytes is the columnar layer's job.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tbtool.proto import event_pb2

START = event_pb2.SessionLog.START
#: Kinds a restart never erases.
UNPURGED_KINDS = frozenset({"graph", "run_metadata", "session_log", "file_version", "log_message"})

Position = tuple[int, int]  # (file number in the run's read order, record index)


@dataclass(frozen=True, slots=True)
class Restart:
    """A SessionLog START: where it is and the step it rewinds to."""

    position: Position
    step: int
    offset: int | None = None  # byte offset of the START record in its file


def start_step(event: Any) -> int | None:
    """The step a decoded ``Event`` rewinds to if it is a SessionLog START, else ``None``."""
    if event.WhichOneof("what") == "session_log" and event.session_log.status == START:
        return event.step
    return None


class PurgeFilter:
    """Decides whether a value at a position survives the restarts that follow it. Restarts
    may be added as a reader meets them (:meth:`add`)."""

    def __init__(self, restarts: Iterable[Restart] = ()) -> None:
        self.restarts: list[Restart] = []
        self._positions: list[Position] = []
        self._min_step_after: list[int] = []
        self.add(restarts)

    def add(self, restarts: Iterable[Restart]) -> list[Restart]:
        """Take in restarts not known yet (by position); returns those that were new."""
        known = set(self._positions)
        new = []
        for r in restarts:
            if r.position not in known:
                known.add(r.position)
                new.append(r)
        if new:
            ordered = sorted([*self.restarts, *new], key=lambda r: r.position)
            self.restarts = ordered
            self._positions = [r.position for r in ordered]
            # _min_step_after[i] = smallest START step among restarts i, i+1, ...
            self._min_step_after = [r.step for r in ordered]
            for i in range(len(ordered) - 2, -1, -1):
                self._min_step_after[i] = min(self._min_step_after[i], self._min_step_after[i + 1])
        return new

    def __bool__(self) -> bool:
        return bool(self._positions)

    def limit_after(self, position: Position) -> int | None:
        """The smallest START step of the restarts after ``position`` (values of purgeable
        kinds up to there at that step or later are erased); ``None`` when there are none."""
        i = bisect.bisect_right(self._positions, position)
        return self._min_step_after[i] if i < len(self._positions) else None

    def keeps(self, position: Position, step: int, kind: str = "scalar") -> bool:
        """False if a later START at step <= ``step`` erases this value."""
        if kind in UNPURGED_KINDS or not self._positions:
            return True
        i = bisect.bisect_right(self._positions, position)
        return i == len(self._positions) or step < self._min_step_after[i]

    def keeps_many(self, file_number: int, indices: Any, steps: Any) -> Any:
        """:meth:`keeps` for many values of one file at once (numpy arrays of record indices
        and steps of purgeable kinds); a boolean array."""
        indices = np.asarray(indices, dtype=np.int64)
        steps = np.asarray(steps, dtype=np.int64)
        if not self._positions:
            return np.ones(len(indices), dtype=bool)
        before = bisect.bisect_left(self._positions, (file_number, -1))
        after = bisect.bisect_left(self._positions, (file_number + 1, -1))
        same_file = np.array([p[1] for p in self._positions[before:after]], dtype=np.int64)
        i = before + np.searchsorted(same_file, indices, side="right")
        limits = np.array([*self._min_step_after, np.iinfo(np.int64).max], dtype=np.int64)
        return (i == len(self._positions)) | (steps < limits[i])
