"""Writing one synthetic run: its event files, step by step, in one writer's style.

A run is one or two segments of steps, each in its own event file: ``[0, N)``, or with a
restart ``[0, crash]`` then ``[restart, N)`` in a second file that starts with the style's
restart events (``purge_step``). Within a segment, scalars of every step are written in bulk
(``synth_bulk``) between the steps where something else happens (a histogram, an image, a
fault...); at those steps the other kinds' events follow the step's scalars, as a training
loop logs them. Wall times are fixed functions of the step, so files are byte-identical for
equal options.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tbtool.errors import UsageError
from tbtool.ops.synth import shapes
from tbtool.ops.synth.bulk import BulkScalars, varint_width, width_bands
from tbtool.ops.synth.events import FAULT_KINDS, Logged, run_start, step_events
from tbtool.ops.synth.faults import Fault, InjectedFault, damage, file_fault
from tbtool.ops.synth.styles import TorchStyle
from tbtool.writer import wire
from tbtool.writer.event_file import frame

#: Seconds per training step, before jitter.
STEP_SECONDS = 0.25
#: Seconds between a crash and the resumed job's first event.
RESTART_DELAY = 180.0
#: Bytes of scalar records built per block.
BLOCK_BYTES = 8 << 20
#: Values of each kind over a run of N steps: one every N // COUNT steps.
CADENCE = {
    "histograms": 50,
    "images": 10,
    "audio": 5,
    "text": 10,
    "pr_curves": 10,
    "mesh": 4,
    "tensors": 10,
}
# Random streams: one generator per (seed, run, file, stream), so no kind's draws move another's.
_SCALARS, _FAULTS = 1, 7
_STREAMS = {"histograms": 2, "images": 3, "audio": 4, "pr_curves": 5, "tensors": 6}


@dataclass
class Series:
    """How many values of one tag a run holds: ``written`` (the raw stream) and ``kept``
    (after restart semantics: values of the crashed file at steps >= the restart step go)."""

    kind: str
    written: int = 0
    kept: int = 0
    first_step: int | None = None
    last_step: int | None = None

    def add(self, first: int, last: int, written: int, kept: int) -> None:
        self.written += written
        self.kept += kept
        self.first_step = first if self.first_step is None else min(self.first_step, first)
        self.last_step = last if self.last_step is None else max(self.last_step, last)


@dataclass
class FileOutcome:
    path: str
    size: int
    records: int


@dataclass
class RunSpec:
    """What to write for one run."""

    index: int
    name: str
    params: shapes.RunParams
    start_wall: float
    horizon: int  # steps planned: [0, horizon)
    restart_at: int | None
    crash_at: int | None
    first_run: bool
    faults: list[Fault] = field(default_factory=list)
    budget: int | None = None  # bytes of event files, for --size


@dataclass
class RunOutcome:
    name: str
    hparams: dict[str, Any]
    files: list[FileOutcome]
    series: dict[str, Series]
    faults: list[InjectedFault]
    last_step: int | None
    bytes: int


class _File:
    """One event file being written; can damage the next record written (framing faults)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file = open(path, "xb")  # noqa: SIM115 - closed in close()
        self.size = 0
        self.records = 0
        self.last_record = 0  # offset of the last record
        # A framing fault to apply to the next record written, its junk bytes, its report.
        self.pending: tuple[Fault, bytes, InjectedFault] | None = None

    def payloads(self, payloads: list[bytes]) -> None:
        if payloads:
            self.write(frame(payloads), len(payloads), 16 + len(payloads[-1]))

    def write(self, data: Any, records: int, last_size: int) -> None:
        if self.pending is not None:
            fault, junk, report = self.pending
            self.pending = None
            buffer = memoryview(
                data.reshape(-1) if isinstance(data, np.ndarray) else bytearray(data)
            )
            report.offset, report.index = self.size, self.records
            inserted = damage(fault, buffer, junk)
            if inserted:
                self.file.write(inserted)
                self.size += len(inserted)
                self.records += 1
            data = buffer
        self.file.write(data)
        n = memoryview(data).nbytes
        self.size += n
        self.records += records
        self.last_record = self.size - last_size

    def close(self) -> None:
        self.file.close()


def _jitter(steps: np.ndarray) -> np.ndarray:
    """Up to 0.05 s per step, a fixed function of the step (a multiplicative hash)."""
    mixed = (steps.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(1 << 32)
    return mixed.astype(np.float64) / (1 << 32) * 0.05


class RunWriter:
    """Writes one run (``write()``); everything it needs is in the constructor."""

    def __init__(
        self,
        out: str,
        spec: RunSpec,
        style: TorchStyle,
        kinds: set[str],
        scalar_tags: list[str],
        hist_tags: list[str],
        seed: int,
    ) -> None:
        self.out = out
        self.spec = spec
        self.style = style
        self.kinds = kinds
        self.tags = scalar_tags if "scalars" in kinds else []
        self.hist_tags = hist_tags if "histograms" in kinds else []
        self.seed = seed
        self.dir = os.path.join(out, spec.name)
        self.bulk = BulkScalars([style.scalar_parts(t) for t in self.tags])
        self.all_tags = list(range(len(self.tags)))
        n = spec.horizon
        self.cadence = {
            kind: max(1, n // count) for kind, count in CADENCE.items() if kind in kinds
        }
        per_step = len(self.tags) + len(self.hist_tags) + 16
        self.tick = min(1e-3, 0.19 / per_step)  # seconds between events of one step
        self.series: dict[str, Series] = {}
        self.files: list[_File] = []
        self.injected: list[InjectedFault] = []
        self.bytes_done = 0
        self.end_events: list[Logged] = []
        self.last_step: int | None = None
        self.exhausted = False

    # -- plan -----------------------------------------------------------------------------------
    def segments(self) -> list[tuple[int, int, float]]:
        """(first step, stop, wall time of the file's first event) per file."""
        spec = self.spec
        if spec.restart_at is None or spec.crash_at is None:
            return [(0, spec.horizon, spec.start_wall)]
        crash_wall = spec.start_wall + spec.crash_at * STEP_SECONDS
        return [
            (0, spec.crash_at + 1, spec.start_wall),
            (spec.restart_at, spec.horizon, crash_wall + RESTART_DELAY),
        ]

    def rng(self, segment: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.spec.index, segment, stream])

    # -- writing --------------------------------------------------------------------------------
    def write(self) -> RunOutcome:
        os.makedirs(self.dir, exist_ok=True)
        segments = self.segments()
        try:
            for number, (first, stop, wall) in enumerate(segments):
                self.write_segment(number, first, stop, wall, last=number == len(segments) - 1)
        finally:
            for f in self.files:
                f.close()
        self.file_faults()
        missing = {f.name for f in self.spec.faults} - {i.fault for i in self.injected}
        if missing:
            raise UsageError(
                f"--corrupt {', '.join(sorted(missing))}: run {self.spec.name} ended before "
                "the step chosen for it (use more --num-steps or a larger --size)"
            )
        files = [FileOutcome(f.path, os.path.getsize(f.path), f.records) for f in self.files]
        return RunOutcome(
            name=self.spec.name,
            hparams=self.spec.params.hparams(),
            files=files,
            series=self.series,
            faults=self.injected,
            last_step=self.last_step,
            bytes=sum(f.size for f in files),
        )

    def write_segment(self, number: int, first: int, stop: int, t0: float, last: bool) -> None:
        spec, style = self.spec, self.style
        self.segment, self.t0, self.first, self.last = number, t0, first, last
        self.superseded = spec.restart_at if not last else None
        self.scalar_rng = self.rng(number, _SCALARS)
        self.rngs = {kind: self.rng(number, stream) for kind, stream in _STREAMS.items()}
        pid = 1000 + 2 * spec.index + number
        path = os.path.join(self.dir, style.file_name(int(t0), pid))
        self.bytes_done = sum(done.size for done in self.files)
        f = _File(path)
        self.files.append(f)
        self.file = f
        faults = self.faults_here(number == 0, last)
        start: list[bytes] = []
        if not any(fault.name == "no-file-version" for fault in faults):
            start.append(style.header(t0))
        if number > 0:
            start += style.restart(t0, first)
        if "graph" in self.kinds and number == 0:  # traced once, when training starts
            graph = style.graph()
            start += [wire.event_bytes(t0 + 0.5, None, what) for what in graph]
            self.count("__run_graph__", "graph", 0, False)
            if len(graph) > 1:
                self.count(style.run_metadata_tag.decode(), "run_metadata", 0, False)
        if number == 0:
            begin, self.end_events = run_start(
                style, self.kinds, spec.params, self.tags, spec.first_run
            )
            start += self.logged(begin, t0 + 0.5, None)
        f.payloads(start)

        self.points = self.fault_points(faults, first, stop)
        framing = {
            step: [x for x in fs if x.family == "framing"] for step, fs in self.points.items()
        }
        boundaries = self.cadence_steps(first, stop) | {stop - 1}
        for step, fs in self.points.items():
            boundaries.add(step - 1 if any(x.family == "framing" for x in fs) else step)
        cursor = first
        for fault in framing.get(first, []):
            self.arm(fault, first)
        for p in sorted(b for b in boundaries if b >= first):
            if not self.scalars(cursor, p + 1, last):
                break
            self.events_at(p, [x for x in self.points.get(p, []) if x.family == "event"])
            cursor = p + 1
            for fault in framing.get(cursor, []):
                self.arm(fault, cursor)
        if last:
            f.payloads(self.logged(self.end_events, self.wall(np.array([stop - 1]))[0] + 0.5, None))
        if f.pending is not None:
            raise UsageError(
                f"--corrupt {f.pending[0].name}: no record was written after step "
                f"{self.injected[-1].step} of {path} to damage; use more --num-steps"
            )

    def faults_here(self, first_file: bool, last_file: bool) -> list[Fault]:
        return [
            fault
            for fault in self.spec.faults
            if (first_file if fault.name == "no-file-version" else last_file)
        ]

    def fault_points(self, faults: list[Fault], first: int, stop: int) -> dict[int, list[Fault]]:
        """Step -> faults acting there (framing faults: on the first record of that step)."""
        points: dict[int, list[Fault]] = {}
        middle = (first + stop) // 2
        for fault in faults:
            if fault.family == "framing":
                step = max(first + 1, middle) if stop - first > 1 else first
            elif fault.family != "event":
                continue
            elif fault.needs_kind == "histograms":
                step = self.cadence_step_near("histograms", first, stop, middle)
            elif fault.needs_kind == "images":
                step = self.cadence_step_near("images", first, stop, middle)
            elif fault.name == "step-backwards":
                step = max(first + 1, middle) if stop - first > 1 else first
            else:
                step = middle
            points.setdefault(step, []).append(fault)
        return points

    def cadence_step_near(self, kind: str, first: int, stop: int, middle: int) -> int:
        every = self.cadence[kind]
        steps = list(range(-(-first // every) * every, stop, every))
        return min(steps, key=lambda s: abs(s - middle)) if steps else first

    def cadence_steps(self, first: int, stop: int) -> set[int]:
        steps: set[int] = set()
        for every in self.cadence.values():
            steps.update(range(-(-first // every) * every, stop, every))
        return steps

    def arm(self, fault: Fault, step: int) -> None:
        report = InjectedFault(fault.name, fault.code, self.spec.name, self.file.path, step=step)
        self.injected.append(report)
        junk = self.rng(self.segment, _FAULTS).bytes(24)
        self.file.pending = (fault, junk, report)

    # -- wall times and counting -----------------------------------------------------------------
    def wall(self, steps: np.ndarray) -> np.ndarray:
        return self.t0 + 1.0 + (steps - self.first) * STEP_SECONDS + _jitter(steps)

    def count(self, tag: str, kind: str, step: int, purgeable: bool = True) -> None:
        """One value of ``tag``; graph and metadata-like values are never purged."""
        kept = int(not purgeable or self.superseded is None or step < self.superseded)
        self.series.setdefault(tag, Series(kind)).add(step, step, 1, kept)

    # -- scalars ----------------------------------------------------------------------------------
    def scalars(self, lo: int, hi: int, last: bool) -> bool:
        """Scalars of steps ``[lo, hi)`` in bulk blocks; False when the size budget ran out."""
        if self.exhausted:
            return False
        if not self.tags:
            self.last_step = hi - 1
            return True
        k = len(self.tags)
        for a, b in width_bands(lo, hi):
            step_size = self.bulk.step_size(varint_width(a), self.all_tags)
            per_block = max(1, BLOCK_BYTES // step_size)
            while a < b:
                n = min(per_block, b - a)
                if self.spec.budget is not None and last:
                    room = (self.spec.budget - self.bytes_done - self.file.size) // step_size
                    if room < n:  # but never stop before the file's first step
                        n = max(0 if a > self.first else 1, room)
                        self.exhausted = True
                if n == 0:
                    return False
                steps = np.arange(a, a + n, dtype=np.int64)
                values = np.empty((k, n))
                for t in range(k):
                    values[t] = shapes.scalar_series(
                        t, self.spec.params, steps, self.spec.horizon, self.scalar_rng
                    )
                walls = self.wall(steps)[None, :] + self.tick * np.arange(k)[:, None]
                self.apply_overrides(steps, values, walls)
                block = self.bulk.block(steps, walls, values, self.all_tags)
                last_size = self.bulk.layout(k - 1, varint_width(a)).size
                self.file.write(block, n * k, last_size)
                kept = (
                    n if self.superseded is None else int(np.count_nonzero(steps < self.superseded))
                )
                for tag in self.tags:
                    self.series.setdefault(tag, Series("scalar")).add(a, a + n - 1, n, kept)
                self.last_step = a + n - 1
                a += n
                if self.exhausted:
                    return False
        return True

    def apply_overrides(self, steps: np.ndarray, values: np.ndarray, walls: np.ndarray) -> None:
        """Event faults that change one scalar record of tag 0 (the loss)."""
        for step, faults in self.points.items():
            fault = faults[0]
            if fault.name not in ("nan", "clock-jump", "nan-wall-time"):
                continue
            hit = np.flatnonzero(steps == step)
            if not hit.size:
                continue
            i = int(hit[0])
            if fault.name == "nan":
                values[0, i] = np.nan
            elif fault.name == "clock-jump":
                walls[0, i] -= 3600.0
            else:
                walls[0, i] = np.nan
            record = self.file.records + i * len(self.tags)
            self.injected.append(
                InjectedFault(
                    fault.name, fault.code, self.spec.name, self.file.path, None, record, step
                )
            )

    # -- everything else ---------------------------------------------------------------------------
    def logged(self, items: list[Logged], wall: float, step: int | None) -> list[bytes]:
        """Events of ``items`` (counted; metadata-like values, without a step, are never
        purged), a tick apart from ``wall`` on."""
        payloads = []
        for item in items:
            if item.fault is not None:
                self.injected_here(item.fault, step, len(payloads))
            wall_time = wall + self.tick * len(payloads)
            payloads.append(wire.summary_event(wall_time, step, item.values))
            for tag, kind in item.series:
                self.count(tag, kind, 0 if step is None else step, step is not None)
        return payloads

    def other_bytes(self) -> int:
        """Bytes the run's events other than scalars take (``--size`` planning): they are
        made (not written) for one file of ``horizon`` steps."""
        rngs = {kind: self.rng(0, stream) for kind, stream in _STREAMS.items()}
        begin, end = run_start(
            self.style, self.kinds, self.spec.params, self.tags, self.spec.first_run
        )
        items = begin + end
        for step in sorted(self.cadence_steps(0, self.spec.horizon)):
            due = {kind for kind, every in self.cadence.items() if step % every == 0}
            items += step_events(
                self.style, due, set(), self.spec.params, self.spec.horizon,
                self.spec.index, step, self.hist_tags, rngs,
            )  # fmt: skip
        return sum(16 + len(wire.summary_event(0.0, 1 << 20, item.values)) for item in items)

    def events_at(self, step: int, faults: list[Fault]) -> None:
        """Everything but scalars logged at ``step`` (and event faults there), after them."""
        names = {fault.name for fault in faults}
        due = {kind for kind, every in self.cadence.items() if step % every == 0}
        due |= {FAULT_KINDS[name] for name in names if name in FAULT_KINDS}
        items = step_events(
            self.style,
            due,
            names,
            self.spec.params,
            self.spec.horizon,
            self.spec.index,
            step,
            self.hist_tags,
            self.rngs,
        )
        base = self.wall(np.array([step]))[0] + self.tick * len(self.tags)
        payloads = self.logged(items, base, step)
        if names & {"duplicate-step", "step-backwards"}:
            name = "duplicate-step" if "duplicate-step" in names else "step-backwards"
            at = step if name == "duplicate-step" else step - 1
            value = shapes.scalar_series(
                0, self.spec.params, np.array([at]), self.spec.horizon, self.rng(9, _FAULTS)
            )
            self.injected_here(name, at, len(payloads))
            prefix, suffix = self.bulk.parts[0]
            number = struct.pack("<f", float(value[0]))
            wall = base + self.tick * len(payloads)
            payloads.append(wire.event_bytes(wall, at, prefix + number + suffix))
            self.count(self.tags[0], "scalar", at)
        self.file.payloads(payloads)

    def injected_here(self, name: str, step: int | None, position: int) -> None:
        fault = next(f for f in self.spec.faults if f.name == name)
        index = self.file.records + position
        self.injected.append(
            InjectedFault(name, fault.code, self.spec.name, self.file.path, None, index, step)
        )

    # -- file faults ------------------------------------------------------------------------------
    def file_faults(self) -> None:
        for fault in self.spec.faults:
            if fault.family not in ("end", "file"):
                continue
            report, extra = file_fault(
                fault,
                self.spec.name,
                self.dir,
                self.files,
                self.style,
                self.spec.start_wall,
                9000 + self.spec.index,
                self.rng(7, _FAULTS).bytes(512),
            )
            self.injected.append(report)
            if extra is not None:
                self.files.append(_Closed(*extra))


class _Closed:
    """A file made whole by a file fault (written and closed already)."""

    def __init__(self, path: str, records: int) -> None:
        self.path = path
        self.size = os.path.getsize(path)
        self.records = records

    def close(self) -> None:
        pass
