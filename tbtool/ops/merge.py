"""merge: combine event files and runs into one clean event file per output run.

Sources of an output run are read in TensorBoard's order (files by basename, across inputs),
every readable record is salvaged (damaged stretches are skipped and reported), restart
semantics are applied across all of them, exact duplicate records are dropped, and the result
is written as one file that starts with a single ``file_version`` event. Inputs are never
modified; the output goes through the verified atomic write of :mod:`tbtool.ops.rewrite`.

Runs whose sources all read cleanly are planned from the columnar scan and written as
splices of their sources (:mod:`tbtool.ops.merge_plan`); runs with damaged sources take the
per-event salvage engine (:mod:`tbtool.ops.merge_salvage`). Both write the same bytes.

A local OUT gets all of its files or none: they are written into a temporary directory in
OUT (:mod:`tbtool.storage.temporaries`) and moved into place when every run is written. An
interrupted merge leaves OUT without event files (at worst a stale temporary directory,
which the next tbtool command writing there removes), so running it again just works. A URL
OUT gets its files one by one (an object store has no rename).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tbtool import storage
from tbtool.columnar.walk import Progress, file_size
from tbtool.errors import UsageError
from tbtool.format.salvage import SkippedRange
from tbtool.ops.merge_plan import (
    MergedRun,
    OutputRun,
    file_version_payload,
    plan_merged_run,
    scan_sources,
)
from tbtool.ops.merge_salvage import merged_payloads
from tbtool.ops.output import refuse_overlap
from tbtool.ops.rewrite import framed, fsync_directory, write_verified_blocks
from tbtool.ops.splice import blocks
from tbtool.runs.logdir import discover, is_event_file_name
from tbtool.storage.spool import spooled
from tbtool.storage.temporaries import temporary_directory

__all__ = ["MergeResult", "OutputRun", "merge", "merged_payloads", "plan_outputs", "plan_run"]

LAYOUTS = ("merge", "sub-run", "tag-prefix")


@dataclass(slots=True)
class MergeResult:
    out: str
    runs: list[OutputRun]

    @property
    def skipped(self) -> list[SkippedRange]:
        """Every damaged stretch of the inputs left out of the output (what ``--strict``
        fails on)."""
        return [s for run in self.runs for s in run.skipped]

    def to_json(self) -> dict[str, Any]:
        return {"out": self.out, "runs": [r.to_json() for r in self.runs]}


@contextlib.contextmanager
def staged_into(out: str) -> Iterator[Callable[[str], str]]:
    """Write a local OUT all at once: yields ``place(final path) -> path to write``; the
    files are written into a temporary directory in OUT, named by number (no event-file
    names: nothing reads a half-done merge as runs), and renamed into place when the ``with``
    block ends without error. On error nothing is placed, and an OUT made here is removed."""
    made = not os.path.lexists(out)
    os.makedirs(out, exist_ok=True)
    moves: list[tuple[str, str]] = []
    try:
        with temporary_directory(out) as staging:

            def place(final: str) -> str:
                moves.append((os.path.join(staging, str(len(moves))), final))
                return moves[-1][0]

            yield place
            for staged, final in moves:
                os.makedirs(os.path.dirname(final), exist_ok=True)
                if os.path.lexists(final):
                    raise UsageError(f"{final} appeared while merging: nothing more was placed")
                os.rename(staged, final)
            for directory in sorted({os.path.dirname(final) for _, final in moves}):
                fsync_directory(directory)
    except BaseException:
        if made:
            with contextlib.suppress(OSError):
                os.rmdir(out)  # only when empty: nothing of this merge was placed
        raise


def _labels(inputs: Sequence[str]) -> list[str]:
    labels: list[str] = []
    for path in inputs:
        base = (
            storage.basename(path)
            if storage.is_url(path)
            else os.path.basename(os.path.normpath(path))
        ) or "input"
        label, n = base, 1
        while label in labels:
            n += 1
            label = f"{base}_{n}"
        labels.append(label)
    return labels


def plan_outputs(
    inputs: Sequence[str], *, layout: str = "merge", runs: Sequence[str] = ()
) -> list[OutputRun]:
    """Which output runs there will be, and their source files in read order."""
    if layout not in LAYOUTS:
        raise UsageError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    outputs: dict[str, OutputRun] = {}
    for label, path in zip(_labels(inputs), inputs, strict=True):
        for run in discover([path], runs):
            name = run.name
            if layout == "sub-run":
                name = label if name == "." else f"{label}/{name}"
            out = outputs.setdefault(name, OutputRun(name))
            out.sources.extend((label, f) for f in run.files)
    for out in outputs.values():
        out.sources.sort(key=lambda src: storage.basename(src[1]))
    return [outputs[k] for k in sorted(outputs)]


def _check_out(out: str, inputs: Sequence[str]) -> None:
    refuse_overlap(out, inputs, command="merge", input_dirs=True)
    if storage.is_url(out):
        listing = storage.list_files(out)
        is_file = storage.trim(out) in listing
        names = [storage.basename(f) for f in listing]
    elif os.path.exists(out):
        is_file = not os.path.isdir(out)
        names = [name for _, _, files in os.walk(out) for name in files]
    else:
        return
    if is_file:
        raise UsageError(f"output {out} exists and is not a directory")
    if any(is_event_file_name(name) for name in names):
        raise UsageError(
            f"output {out} already holds event files: choose an empty or new directory"
        )


def file_payloads(
    first: tuple[int, float, bytes] | None, rest: Iterator[tuple[int, float, bytes]]
) -> Iterator[bytes]:
    """The records of a merged file: one ``file_version`` (at the first event's wall time),
    then the first event and the rest of :func:`merged_payloads`."""
    yield file_version_payload(first[1] if first is not None else 0.0)
    if first is not None:
        yield first[2]
        for _, _, payload in rest:
            yield payload


def plan_run(
    run: OutputRun,
    *,
    rule: str | None,
    layout: str,
    sort_by_step: bool = False,
    progress: Progress | None = None,
) -> MergedRun | None:
    """The columnar plan of an output run (its counters filled in), or ``None`` when a
    source does not read cleanly and the run must be salvaged by :func:`merged_payloads`.
    Call inside ``spooled`` of the sources: they are read again when written."""
    tables = scan_sources(run.name, [path for _, path in run.sources], progress)
    if tables is None:
        return None
    labels = [label for label, _ in run.sources]
    planned = plan_merged_run(tables, labels, rule=rule, layout=layout, sort_by_step=sort_by_step)
    run.count(planned)
    return planned


def merge(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    layout: str = "merge",
    rule: str | None = "start",
    sort_by_step: bool = False,
    runs: Sequence[str] = (),
    progress: Progress | None = None,
) -> MergeResult:
    """Merge ``inputs`` (event files, runs or logdirs) into ``out``, one file per run.

    ``layout``: ``merge`` (same-named runs of all inputs become one run), ``sub-run`` (each
    input becomes a sub-run named after it) or ``tag-prefix`` (same-named runs merge, tags get
    the input's name as a prefix). ``rule``: restart rule applied across files (``start``,
    ``rewind``, or ``None`` to keep every value and START marker). ``sort_by_step`` orders each
    output run's events by step (stable). ``progress``: counters of the bytes read (each
    source is read twice: planned, then copied), for a progress display.
    """
    inputs = [os.fspath(p) for p in inputs]
    out = os.fspath(out)
    if rule is not None and rule not in ("start", "rewind"):
        raise UsageError(f"unknown restart rule {rule!r}; use 'start', 'rewind' or none")
    _check_out(out, inputs)
    outputs = plan_outputs(inputs, layout=layout, runs=runs)
    if not outputs:
        raise UsageError(f"no runs found in {inputs}")
    if progress is not None:
        progress.files_total = sum(len(r.sources) for r in outputs)
        progress.bytes_total = 2 * sum(file_size(p) for r in outputs for _, p in r.sources)
        progress.update()
    host = socket.gethostname().replace(".", "_") or "host"
    with contextlib.ExitStack() as stack:
        place = (
            (lambda final: final) if storage.is_url(out) else stack.enter_context(staged_into(out))
        )
        for run in outputs:
            _merge_run(run, out, host, place, rule, layout, sort_by_step, progress)
    return MergeResult(out, outputs)


def _merge_run(
    run: OutputRun,
    out: str,
    host: str,
    place: Callable[[str], str],
    rule: str | None,
    layout: str,
    sort_by_step: bool,
    progress: Progress | None,
) -> None:
    """Plan and write one output run; ``place`` maps its final path to where it is written
    now (the staging directory of a local OUT)."""
    with spooled([path for _, path in run.sources]):  # read twice: fetched once
        planned = plan_run(
            run, rule=rule, layout=layout, sort_by_step=sort_by_step, progress=progress
        )
        if planned is not None:
            wall = planned.first_wall_time if planned.first_wall_time is not None else 0.0
            output: Any = blocks(planned.splice, progress)
        else:
            run.reset_counts()
            events = merged_payloads(run, rule=rule, layout=layout)
            if sort_by_step:
                events = iter(sorted(events, key=lambda e: e[0]))
            first = next(events, None)
            wall = first[1] if first is not None else 0.0
            output = framed(file_payloads(first, events))
        directory = out if run.name == "." else storage.join(out, *run.name.split("/"))
        name = f"events.out.tfevents.{int(wall):010d}.{host}.tbtool"
        target = storage.join(directory, name)
        written = write_verified_blocks(place(target), output)
    run.written, run.records_out = target, written.records
