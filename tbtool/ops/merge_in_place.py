"""merge --in-place: consolidate each run's event files into one clean file where it lives.

A run that training restarted a few times ends up as several event files with START markers
and re-logged steps. In place, each such run becomes one file: restart semantics applied,
exact duplicates dropped, one ``file_version`` first. The merged file takes the *first*
source's name (so it sorts where the run's data began, before any file a still-running writer
adds later), replacing it atomically after verification; the other sources are then deleted.

Never losing data:

- the originals are archived first (``PATH/.tbtool-backups/merge-*.tar``) unless the caller
  opts out;
- damaged or truncated sources are refused (salvaging in place would drop bytes the user
  has; ``tbtool merge RUN -o NEW`` salvages into a new directory instead), as are symlinks and
  files outside PATH;
- each source's size and mtime are checked again right before the run is rewritten, so a
  file a writer appended to after the plan is never replaced by a stale merge;
- a process stopped after the merged file replaced the first source but before the others
  were deleted leaves a run whose events all appear twice in the same order; running the
  command again restores a single copy (the merged file sorts first, so restarts in the
  remaining originals purge its copies of their steps, and exact duplicates are dropped).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tbtool import storage
from tbtool.columnar.walk import Progress, file_size
from tbtool.errors import UsageError
from tbtool.ops.merge import file_payloads, merged_payloads, plan_run
from tbtool.ops.merge_plan import MergedRun, OutputRun
from tbtool.ops.purge_steps import runs_inside
from tbtool.ops.rewrite import backup, framed, remove_verified, write_verified_blocks
from tbtool.ops.splice import SourceChanged, blocks
from tbtool.storage.spool import spooled

__all__ = ["InPlacePlan", "InPlaceRun", "SourceChanged", "apply", "plan"]


@dataclass(slots=True)
class InPlaceRun:
    """One run to consolidate, with the counts of its planning pass."""

    run: OutputRun
    fingerprints: dict[str, tuple[int, float | None]] = field(default_factory=dict)
    #: The columnar plan (``None``: the run is merged by the per-event engine).
    planned: MergedRun | None = field(default=None, repr=False)

    @property
    def changes(self) -> bool:
        """Several files, or one file that loses records (restart markers, purged values or
        duplicates)."""
        return len(self.run.sources) > 1 or self.run.records_out != self.run.records_in

    def to_json(self) -> dict[str, Any]:
        return {**self.run.to_json(), "changes": self.changes}


@dataclass(slots=True)
class InPlacePlan:
    root: str
    rule: str | None
    runs: list[InPlaceRun]
    backups: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changing(self) -> list[InPlaceRun]:
        return [r for r in self.runs if r.changes]

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "rule": self.rule,
            "runs": [r.to_json() for r in self.runs],
            "backups": self.backups,
            "replaced": self.replaced,
            "removed": self.removed,
        }


def _fingerprint(path: str) -> tuple[int, float | None]:
    info = storage.stat(path, fresh=True)
    return info.size, info.mtime


def _count(run: OutputRun, rule: str | None, progress: Progress | None) -> MergedRun | None:
    """Fill the (fresh) run's counters by planning the merge; refuse damaged sources.
    Returns the columnar plan, ``None`` for a run only the per-event engine can merge."""
    planned = plan_run(run, rule=rule, layout="merge", progress=progress)
    if planned is None:
        run.reset_counts()
        run.records_out = 1 + sum(1 for _ in merged_payloads(run, rule=rule, layout="merge"))
    if run.skipped:
        first = run.skipped[0]
        raise UsageError(
            f"{first.file} is damaged or still being written (bytes {first.start}..{first.end}: "
            f"{first.reason}): refusing to merge it in place; `tbtool merge` with -o salvages "
            "the readable records into a new directory"
        )
    return planned


def plan(
    path: str | os.PathLike,
    *,
    rule: str | None = "start",
    runs: Sequence[str] = (),
    progress: Progress | None = None,
) -> InPlacePlan:
    """What consolidating every run under ``path`` would do (nothing is written).
    ``progress``: counters of the files and bytes read, for a progress display."""
    if rule is not None and rule not in ("start", "rewind"):
        raise UsageError(f"unknown restart rule {rule!r}; use 'start', 'rewind' or none")
    root, selected = runs_inside([os.fspath(path)], runs, command="merge --in-place")
    result = InPlacePlan(root, rule, [])
    if progress is not None:
        progress.files_total = sum(len(r.files) for r in selected)
        progress.bytes_total = sum(file_size(f) for r in selected for f in r.files)
        progress.update()
    for found in selected:
        run = OutputRun(found.name, [(found.name, f) for f in found.files])
        item = InPlaceRun(run, {f: _fingerprint(f) for f in found.files})
        with spooled(found.files):
            item.planned = _count(run, rule, progress)
        result.runs.append(item)
    return result


def _check_unchanged(item: InPlaceRun) -> None:
    for path, before in item.fingerprints.items():
        if not storage.exists(path) or _fingerprint(path) != before:
            raise SourceChanged(
                "changed since the plan (is a writer still logging to this run?); nothing of "
                "this run was rewritten: run the command again when training has stopped",
                file=path,
            )


def _rewrite(item: InPlaceRun, rule: str | None, progress: Progress | None) -> Iterator[str]:
    """Replace the first source with the merged run, then delete the others; yields what was
    removed as it goes. The plan's splice is written when the sources are as planned."""
    run = item.run
    target = run.sources[0][1]
    with spooled([p for _, p in run.sources]):
        _check_unchanged(item)
        if item.planned is not None:
            run.count(item.planned)
            output: Any = blocks(item.planned.splice, progress)
        else:
            events = merged_payloads(run, rule=rule, layout="merge")
            output = framed(file_payloads(next(events, None), events))
        written = write_verified_blocks(target, output)
    run.written, run.records_out = written.path, written.records
    for _, other in run.sources[1:]:
        remove_verified(other)
        yield other


def apply(
    plan_: InPlacePlan, *, keep_backup: bool = True, progress: Progress | None = None
) -> InPlacePlan:
    """Consolidate the runs the plan says change; returns the plan with what was done.
    ``progress``: counters of the bytes copied, for a progress display."""
    changing = plan_.changing
    sources = [p for item in changing for _, p in item.run.sources]
    if sources and keep_backup:
        plan_.backups.append(backup(plan_.root, sources, "merge"))
    if progress is not None:
        progress.files_total = len(sources)
        progress.bytes_total = sum(file_size(p) for p in sources)
        progress.update()
    for item in changing:
        run = item.run
        run.reset_counts()  # the rewrite counts again what it writes
        for removed in _rewrite(item, plan_.rule, progress):
            plan_.removed.append(removed)
        plan_.replaced.append(run.sources[0][1])
        if progress is not None:
            progress.files += len(run.sources)
            progress.update()
    return plan_
