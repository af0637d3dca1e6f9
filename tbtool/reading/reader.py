"""The reader object: runs, events and normalized values of one or more PATHs.

Everything that reads (``ls``, ``dump``, the DataFrame functions, exports) goes through
:class:`LogReader`, so filters, purge semantics and normalization behave the same everywhere.
"""

from __future__ import annotations

import numbers
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tbtool.columnar.restarts import find_restarts
from tbtool.errors import TbtoolError, UsageError
from tbtool.runs.damage import FileDamage, damaged_files, raise_for_damage
from tbtool.runs.events import EventFileReader, EventRecord, FileStatus
from tbtool.runs.logdir import Run, as_patterns, discover, tag_matcher
from tbtool.runs.purge import PurgeFilter
from tbtool.storage.spool import spooled
from tbtool.values.normalize import Normalizer, event_values
from tbtool.values.typed import KINDS, LoggedValue
from tbtool.vocabulary.kinds import kind_names


@dataclass(frozen=True, slots=True)
class StepRange:
    """Inclusive-exclusive step filter ``start:stop`` (either end open)."""

    start: int | None = None
    stop: int | None = None

    @classmethod
    def parse(cls, text: str) -> StepRange:
        """``"A:B"``, ``"A:"``, ``":B"`` or a single step ``"N"``."""
        try:
            if ":" not in text:
                n = int(text)
                return cls(n, n + 1)
            a, b = text.split(":", 1)
            return cls(int(a) if a.strip() else None, int(b) if b.strip() else None)
        except ValueError:
            raise UsageError(f"invalid step range {text!r}: expected A:B, A:, :B or N") from None

    @classmethod
    def coerce(cls, steps: Steps, name: str = "steps") -> StepRange | None:
        """Steps as a caller may give them: ``None`` (all), a step ``N``, ``slice(A, B)``,
        ``"A:B"`` (:meth:`parse`) or a :class:`StepRange`. :class:`TypeError` naming the
        parameter for anything else."""
        if steps is None or isinstance(steps, StepRange):
            return steps
        if isinstance(steps, str):
            return cls.parse(steps)
        if isinstance(steps, slice):
            if steps.step is not None:
                raise UsageError(f"{name}: a slice of steps has no stride, got {steps!r}")
            return cls(_step(steps.start, name), _step(steps.stop, name))
        if isinstance(steps, numbers.Integral) and not isinstance(steps, bool):
            return cls(int(steps), int(steps) + 1)
        raise TypeError(
            f"{name} must be an int, a slice, a string 'A:B' or a StepRange, "
            f"not {type(steps).__name__}"
        )

    def __contains__(self, step: int) -> bool:
        after_start = self.start is None or step >= self.start
        return after_start and (self.stop is None or step < self.stop)


#: What every ``steps=`` parameter accepts (:meth:`StepRange.coerce`).
Steps = int | slice | str | StepRange | None


def _step(bound: object, name: str) -> int | None:
    if bound is None:
        return None
    if isinstance(bound, numbers.Integral) and not isinstance(bound, bool):
        return int(bound)
    raise TypeError(f"{name}: slice bounds must be ints or None, not {type(bound).__name__}")


class Reader:
    """Reads the runs found under ``paths`` (the core of :class:`tbtool.LogReader`, which adds
    ``table()`` and ``frame()``).

    ``runs``: regular expressions on run names; ``tags``: glob patterns on tags (each one
    pattern as a string, or a sequence of them); ``purge``: apply purge semantics
    (contract.md).

    One damaged file never hides the others: every read goes on past a damaged record (to
    the next record, or to the next file when the record boundaries are lost) and collects
    what it met in :attr:`problems` (:meth:`damage` says what each damaged file is, in
    ``tbtool validate``'s words). When a read is complete (its iterator exhausted), it
    raises :class:`~tbtool.errors.DamagedFiles` naming every damaged file it met, unless
    ``skip_corrupt`` is true: then the data read is all there is, and :attr:`problems` says
    what was skipped. The batch and per-event paths read, skip and raise alike.
    """

    def __init__(
        self,
        paths: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        runs: str | Sequence[str] = (),
        tags: str | Sequence[str] = (),
        purge: bool = True,
        skip_corrupt: bool = False,
    ) -> None:
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.paths = [os.fspath(p) for p in paths]
        self.run_patterns = list(as_patterns(runs, "runs"))
        self.tag_patterns = list(as_patterns(tags, "tags"))
        self.purge = purge
        self.skip_corrupt = skip_corrupt
        self.problems: list[TbtoolError] = []
        self.tag_ok: Callable[[str], bool] = tag_matcher(self.tag_patterns)
        self._runs: list[Run] | None = None
        self.file_status: dict[str, FileStatus] = {}

    @property
    def runs(self) -> list[Run]:
        """Runs in name order (discovered once, on first use)."""
        if self._runs is None:
            self._runs = discover(self.paths, self.run_patterns)
        return self._runs

    def rediscover(self) -> list[Run]:
        """Look for new runs and files again (used when following growing logdirs)."""
        self._runs = None
        return self.runs

    # -- damage -------------------------------------------------------------------------------
    def damage(self) -> list[FileDamage]:
        """The damaged files met so far (each with validate's code and wording)."""
        return damaged_files(self.problems)

    def check_damage(self, since: int = 0) -> None:
        """Unless ``skip_corrupt``: raise :class:`~tbtool.errors.DamagedFiles` if any file
        was damaged among ``problems[since:]`` (what one read met)."""
        if not self.skip_corrupt:
            raise_for_damage(self.problems[since:])

    # -- events -------------------------------------------------------------------------------
    def _file_events(self, path: str) -> Iterator[EventRecord]:
        with EventFileReader(path, skip_corrupt=True) as reader:
            count = 0
            for record in reader:
                count += 1
                yield record
            self.problems.extend(reader.problems)
            self.file_status[path] = FileStatus(
                count, reader.state, reader.records.offset, reader.records.pending_bytes
            )

    def file_events(self, path: str) -> Iterator[EventRecord]:
        """Events of one file; records how reading ended in :attr:`file_status` (damage:
        see the class docs)."""
        since = len(self.problems)
        yield from self._file_events(path)
        self.check_damage(since)

    def _run_events(self, run: Run) -> Iterator[tuple[int, EventRecord]]:
        for number, path in enumerate(run.files):
            for record in self._file_events(path):
                yield number, record

    def run_events(self, run: Run) -> Iterator[tuple[int, EventRecord]]:
        """``(file number, event)`` of a run's files in read order (no purge)."""
        since = len(self.problems)
        yield from self._run_events(run)
        self.check_damage(since)

    def events(self) -> Iterator[tuple[Run, EventRecord]]:
        """Every event of every run, raw (purge does not apply to whole events)."""
        since = len(self.problems)
        for run in self.runs:
            for _, record in self._run_events(run):
                yield run, record
        self.check_damage(since)

    # -- values -------------------------------------------------------------------------------
    def blocks(
        self,
        kinds: Sequence[str] | None = None,
        steps: Steps = None,
        *,
        decode_histograms: bool = False,
        jobs: int | None = 1,
        progress: Any = None,
        runs: Sequence[Run] | None = None,
    ) -> Iterator[Any]:
        """Every run's values as :class:`~tbtool.columnar.pieces.ValueBlock` s (columns, a
        chunk of a file at a time, in read order, filtered and purged): the batch path that
        ``ls``, ``dump`` and ``check`` read through. ``progress``: a
        :class:`~tbtool.columnar.walk.Progress` to update; ``runs``: only these of the
        reader's runs."""
        from tbtool.columnar.assemble import RunAssembler
        from tbtool.columnar.pieces import ValueBlock
        from tbtool.columnar.walk import HOLD_BYTES, Holdback, walk_runs

        wanted = _check_kinds(kinds) or frozenset(KINDS)
        steps = StepRange.coerce(steps)
        for walk in walk_runs(self, jobs=jobs, progress=progress, runs=runs):
            assembler = RunAssembler(
                walk.run.name, wanted, tag_ok=self.tag_ok, steps=steps, purge=walk.purge
            )
            held = Holdback(walk, ValueBlock.purged, ValueBlock.nbytes, HOLD_BYTES)
            for number, chunk in walk:
                block = assembler.block(number, chunk, decode_histograms=decode_histograms)
                yield from self._count(held.push(block), progress)
            yield from self._count(held.finish(), progress)

    @staticmethod
    def _count(blocks: list[Any], progress: Any) -> Iterator[Any]:
        for block in blocks:
            if progress is not None:
                progress.values += len(block)
            if len(block):
                yield block

    def run_values(
        self,
        run: Run,
        kinds: Sequence[str] | None = None,
        steps: Steps = None,
        *,
        engine: str = "auto",
    ) -> Iterator[LoggedValue]:
        """Normalized values of one run in read order, filtered and purged. ``engine``:
        ``auto``/``batch`` reads files in chunks and decodes in bulk; ``events`` decodes
        event by event (the independent path tests hold the batch path to)."""
        steps = StepRange.coerce(steps)
        if resolve_engine(engine) == "events":
            since = len(self.problems)
            yield from self._event_values(run, kinds, steps)
            self.check_damage(since)
            return
        for block in self.blocks(kinds, steps, decode_histograms=True, runs=[run]):
            yield from block.logged_values()

    def _event_values(
        self,
        run: Run,
        kinds: Sequence[str] | None = None,
        steps: StepRange | None = None,
    ) -> Iterator[LoggedValue]:
        with spooled(run.files if self.purge else ()):  # remote files: read twice, fetched once
            purge = PurgeFilter(find_restarts(run.files)) if self.purge else PurgeFilter(())
            selector = ValueSelector(kinds, steps, self.tag_ok)
            normalizer = Normalizer()
            for number, record in self._run_events(run):
                for item in selector.values(run, record, normalizer):
                    if purge.keeps((number, record.index), item.step, item.kind):
                        yield item

    def values(
        self,
        kinds: Sequence[str] | None = None,
        steps: Steps = None,
        *,
        engine: str = "auto",
    ) -> Iterator[LoggedValue]:
        """Normalized values of every run (runs in name order, each in read order);
        ``steps`` as :meth:`StepRange.coerce` takes them; ``engine`` as in
        :meth:`run_values`."""
        steps = StepRange.coerce(steps)
        if resolve_engine(engine) == "batch":
            for block in self.blocks(kinds, steps, decode_histograms=True):
                yield from block.logged_values()
            return
        since = len(self.problems)
        with spooled([f for run in self.runs for f in run.files] if self.purge else ()) as ahead:
            for run in self.runs:
                yield from self._event_values(run, kinds, steps)
                ahead.release(run.files)
        self.check_damage(since)

    def follow(
        self,
        poll_interval: float = 1.0,
        stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[tuple[Run, EventRecord] | None]:
        """Events as files grow, like ``tail -f``: everything present, then new records of
        existing files and new files and runs as they appear. Yields ``None`` each time it is
        about to wait, so a caller can flush output or decide to stop. Purge semantics cannot
        apply to a stream that has not ended, so events come raw. Damage is added to
        :attr:`problems` as it is met (a caller can report it while waiting) and raised,
        unless ``skip_corrupt``, when ``stop()`` ends the stream.
        """
        readers: dict[str, EventFileReader] = {}
        taken: dict[str, int] = {}  # per file: its problems already in self.problems
        since = len(self.problems)
        try:
            while True:
                for run in self.rediscover():
                    for path in run.files:
                        reader = readers.get(path)
                        if reader is None:
                            reader = readers[path] = EventFileReader(path, skip_corrupt=True)
                        while (record := reader.read()) is not None:
                            yield run, record
                        self.problems.extend(reader.problems[taken.get(path, 0) :])
                        taken[path] = len(reader.problems)
                yield None
                if stop():
                    break
                time.sleep(poll_interval)
        finally:
            for reader in readers.values():
                reader.close()
        self.check_damage(since)


class ValueSelector:
    """Turns events into the :class:`LoggedValue` s a request asks for (kinds, steps, tags)."""

    def __init__(
        self,
        kinds: Sequence[str] | None = None,
        steps: StepRange | None = None,
        tag_ok: Callable[[str], bool] = lambda tag: True,
    ) -> None:
        self.kinds = _check_kinds(kinds)
        self.steps = steps
        self.tag_ok = tag_ok

    def values(self, run: Run, record: EventRecord, normalizer: Normalizer) -> list[LoggedValue]:
        event = record.event
        items = event_values(event, normalizer)  # always: first metadata must be seen
        step = event.step
        if self.steps is not None and step not in self.steps:
            return []
        return [
            LoggedValue(
                run.name,
                record.file,
                record.offset,
                record.index,
                event.wall_time,
                step,
                tag,
                value,
                plugin,
            )
            for tag, plugin, value in items
            if (self.kinds is None or value.kind in self.kinds) and self.tag_ok(tag)
        ]


#: How values are read: ``auto`` (= ``batch``, the bulk decoder) or ``events`` (one event at
#: a time, the independent path tests hold the batch path to).
ENGINES = ("auto", "batch", "events")


def resolve_engine(engine: str) -> str:
    """``batch`` or ``events``; a usage error names the choices."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    return "batch" if engine == "auto" else engine


def _check_kinds(kinds: Sequence[str] | None) -> frozenset[str] | None:
    if kinds is None or not len(kinds):
        return None
    return frozenset(kind_names([kinds] if isinstance(kinds, str) else kinds, KINDS))
