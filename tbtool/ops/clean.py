"""clean: remove old, empty or abandoned runs' event data from a logdir, safely.

Selections combine with AND. What goes: a selected run's event files and the projector /
embedding files TensorBoard writers leave in it (``projector_config.pbtxt`` and
``<step>/<tag>/{tensors,metadata}.tsv, sprite.png``); directories left empty are removed.
Anything else (checkpoints, configs) stays unless ``all_files``. Never follows symlinks,
never touches anything outside PATH, and refuses ``/`` and the home directory. PATH may be a
URL (:mod:`tbtool.storage`): the same rules apply to the objects below it (object stores have
no directories to remove).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tbtool import storage
from tbtool.columnar.index import WHAT_CODES, ChunkIndex
from tbtool.columnar.scan import FileScan
from tbtool.columnar.walk import Progress, file_size
from tbtool.errors import TbtoolError, UsageError
from tbtool.ops.rewrite import BACKUP_DIR, real_inside
from tbtool.runs.logdir import Run, compile_patterns, find_runs

SUMMARY = WHAT_CODES["summary"]

#: Files TensorBoard writers put in runs besides event files (torch/tbx add_embedding).
PROJECTOR_FILES = frozenset(
    {"projector_config.pbtxt", "tensors.tsv", "metadata.tsv", "sprite.png", "bookmarks.txt"}
)
#: What torch's ``add_embedding`` writes into ``<run>/<step>/<tag>/``.
EMBEDDING_FILES = frozenset({"tensors.tsv", "metadata.tsv", "sprite.png"})


@dataclass(slots=True)
class RunFacts:
    """What selection looks at: newest event time, highest step, summary count, size."""

    run: Run
    newest_wall_time: float | None = None
    newest_mtime: float | None = None
    max_step: int | None = None
    summary_values: int = 0
    size: int = 0
    unreadable: str | None = None

    def age(self, now: float, by: str) -> float | None:
        newest = self.newest_wall_time if by == "wall_time" else self.newest_mtime
        return None if newest is None else now - newest


@dataclass(slots=True)
class RunAction:
    facts: RunFacts
    remove: list[str] = field(default_factory=list)  # files
    keep: list[str] = field(default_factory=list)  # files that stay (not tbtool's to remove)
    reasons: list[str] = field(default_factory=list)
    measured: int | None = None  # bytes of `remove`, kept once measured (files go away)

    @property
    def bytes(self) -> int:
        if self.measured is None:
            total = 0
            for path in self.remove:
                with contextlib.suppress(OSError, TbtoolError):
                    total += _size_mtime(path)[0]
            self.measured = total
        return self.measured


@dataclass(slots=True)
class CleanPlan:
    root: str
    by: str
    now: float
    selected: list[RunAction]
    kept_runs: list[RunFacts]
    removed: list[str] = field(default_factory=list)
    removed_dirs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    trash: str | None = None

    @property
    def bytes(self) -> int:
        return sum(a.bytes for a in self.selected)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "age_by": self.by,
            "bytes": self.bytes,
            "runs": [
                {
                    "run": a.facts.run.name,
                    "age_seconds": a.facts.age(self.now, self.by),
                    "max_step": a.facts.max_step,
                    "summary_values": a.facts.summary_values,
                    "size": a.facts.size,
                    "reasons": a.reasons,
                    "remove": a.remove,
                    "keep": a.keep,
                }
                for a in self.selected
            ],
            "removed": self.removed,
            "removed_dirs": self.removed_dirs,
            "errors": self.errors,
            "trash": self.trash,
        }


def _size_mtime(path: str) -> tuple[int, float | None]:
    """Size and modification time of a file (not following a symlink) or an object."""
    if storage.is_url(path):
        info = storage.stat(path)
        return info.size, info.mtime
    st = os.lstat(path)
    return st.st_size, st.st_mtime


def _check_root(path: str) -> str:
    if storage.is_url(path):
        if not storage.isdir(path):
            raise UsageError(f"{path}: clean needs a directory (a logdir or run directory)")
        return storage.trim(path)
    root = os.path.abspath(path)
    if not os.path.isdir(root):
        raise UsageError(f"{path}: clean needs a directory (a logdir or run directory)")
    real = os.path.realpath(root)
    if real == os.path.realpath(os.sep) or real == os.path.realpath(os.path.expanduser("~")):
        raise UsageError(f"refusing to clean {path}: it is / or your home directory")
    return root


def _facts(run: Run, progress: Progress | None = None) -> RunFacts:
    """Size, newest modification and wall time, summary values and last step of a run, from
    the columnar scan (record columns, no event decoded one by one). Damaged records are
    skipped; a file that cannot be read makes the run ``unreadable``."""
    facts = RunFacts(run)
    for path in run.files:
        try:
            size, mtime = _size_mtime(path)
        except (OSError, TbtoolError):
            continue
        facts.size += size
        if mtime is not None:
            facts.newest_mtime = max(facts.newest_mtime or mtime, mtime)
    for path in run.files:
        scan = FileScan(path, skip_corrupt=True)
        done = 0
        try:
            for chunk in scan:
                _add_chunk(facts, chunk)
                if progress is not None:
                    progress.bytes += scan.bytes_read - done
                    done = scan.bytes_read
                    progress.update()
        except (TbtoolError, OSError) as e:
            facts.unreadable = str(e)
            return facts
        finally:
            if progress is not None:
                progress.bytes += scan.bytes_read - done
                progress.files += 1
                progress.update()
    return facts


def _add_chunk(facts: RunFacts, chunk: ChunkIndex) -> None:
    walls = chunk.r_wall_time[~np.isnan(chunk.r_wall_time)]
    if len(walls):
        newest = float(walls.max())
        facts.newest_wall_time = max(facts.newest_wall_time or newest, newest)
    facts.summary_values += chunk.values
    steps = chunk.r_step[chunk.r_what == SUMMARY]
    if len(steps):
        top = int(steps.max())
        facts.max_step = top if facts.max_step is None else max(facts.max_step, top)


def _run_files(run: Run, root: str, runs: list[Run], all_files: bool) -> tuple[list, list]:
    """(files to remove, files kept) of one run, below its directory but not in sub-runs."""
    if storage.is_url(run.directory):
        return _remote_run_files(run, root, runs, all_files)
    other_runs = [
        r.directory
        for r in runs
        if r.directory != run.directory
        and os.path.abspath(r.directory).startswith(os.path.abspath(run.directory) + os.sep)
    ]
    remove, keep = [], []
    for directory, files in storage.walk_files(run.directory, follow_symlinks=False):
        absolute = os.path.abspath(directory)
        if any(
            absolute == d or absolute.startswith(d + os.sep)
            for d in map(os.path.abspath, other_runs)
        ):
            continue
        where = os.path.relpath(absolute, os.path.abspath(run.directory)).split(os.sep)
        for name in sorted(files):
            path = os.path.join(directory, name)
            protected = (
                os.path.islink(path)
                or not real_inside(path, root)
                or BACKUP_DIR in os.path.relpath(path, root).split(os.sep)
            )
            removable = not protected and _is_run_file(run, path, name, where, all_files)
            (remove if removable else keep).append(path)
    return remove, keep


def _is_run_file(run: Run, path: str, name: str, where: list[str], all_files: bool) -> bool:
    """Is this file (not a symlink, inside PATH, not a backup) one that goes with its run?
    ``where``: its directory's parts relative to the run directory (``["."]`` at the top).

    A run's files are the files *of its directory*: its event files, its projector files
    and, with ``all_files``, anything else there. Subdirectories are never the run's (they
    may be other runs, a source tree, a ``.git``: a run at a project's root must not take
    the project with it), except the one layout a writer puts there: the embeddings of
    ``add_embedding``, ``<step, 5+ digits>/<tag>/tensors.tsv`` (and ``metadata.tsv``,
    ``sprite.png``)."""
    if where == ["."]:
        return path in run.files or "tfevents" in name or name in PROJECTOR_FILES or all_files
    return (
        len(where) == 2 and where[0].isdigit() and len(where[0]) >= 5 and name in (EMBEDDING_FILES)
    )


def _remote_run_files(run: Run, root: str, runs: list[Run], all_files: bool) -> tuple[list, list]:
    """:func:`_run_files` for objects below a URL (no symlinks, no directories)."""
    others = [
        r.directory
        for r in runs
        if r.directory != run.directory and storage.inside(r.directory, run.directory)
    ]
    remove, keep = [], []
    for directory, files in storage.walk_files(run.directory):
        if any(storage.inside(directory, d) for d in others):
            continue
        where = storage.relative(directory, run.directory).split("/")
        for name in files:
            path = storage.join(directory, name)
            protected = not storage.inside(path, root) or BACKUP_DIR in storage.relative(
                path, root
            ).split("/")
            removable = not protected and _is_run_file(run, path, name, where, all_files)
            (remove if removable else keep).append(path)
    return remove, keep


def plan(
    path: str | os.PathLike,
    *,
    older_than: float | None = None,
    by: str = "wall_time",
    empty: bool = False,
    min_steps: int | None = None,
    keep_last: int | None = None,
    runs: Sequence[str] = (),
    all_files: bool = False,
    now: float | None = None,
    progress: Progress | None = None,
) -> CleanPlan:
    """Select runs (criteria combine with AND) and list what would be removed.
    ``progress``: counters of the files and bytes read, for a progress display."""
    if older_than is None and not empty and min_steps is None and keep_last is None:
        raise UsageError(
            "nothing selects runs: give --older-than, --empty, --last-step-below or "
            "--keep-last (they combine with AND)"
        )
    if by not in ("wall_time", "mtime"):
        raise UsageError(f"--by must be wall_time or mtime, not {by!r}")
    root = _check_root(os.fspath(path))
    now = time.time() if now is None else now
    all_runs = find_runs(root, follow_symlinks=False)
    regexes = compile_patterns(runs)
    candidates = [r for r in all_runs if not regexes or any(rx.search(r.name) for rx in regexes)]
    if progress is not None:
        progress.files_total = sum(len(r.files) for r in candidates)
        progress.bytes_total = sum(file_size(f) for r in candidates for f in r.files)
        progress.update()
    facts = {r.name: _facts(r, progress) for r in candidates}
    protected: set[str] = set()
    if keep_last is not None:
        groups: dict[str, list[RunFacts]] = {}
        for f in facts.values():
            parent = f.run.name.rsplit("/", 1)[0] if "/" in f.run.name else ""
            groups.setdefault(parent, []).append(f)
        for group in groups.values():
            ages = [(f.age(now, by), f.run.name) for f in group]
            ordered = sorted(ages, key=lambda a: float("inf") if a[0] is None else a[0])
            protected.update(name for _, name in ordered[:keep_last])
    selected, kept = [], []
    for name, f in facts.items():
        reasons = []
        ok = name not in protected
        if keep_last is not None and ok:
            reasons.append(f"not among the {keep_last} newest of its directory")
        if older_than is not None:
            age = f.age(now, by)
            old = age is not None and age > older_than
            ok = ok and old
            if old:
                reasons.append(f"{age / 86400:.1f} days old")
        if empty:
            ok = ok and f.summary_values == 0
            if f.summary_values == 0:
                reasons.append("no summary values")
        if min_steps is not None:
            short = (f.max_step if f.max_step is not None else -1) < min_steps
            ok = ok and short
            if short:
                reasons.append(f"last step {f.max_step} < {min_steps}")
        if ok:
            remove, keep = _run_files(f.run, root, all_runs, all_files)
            selected.append(RunAction(f, remove, keep, reasons))
        else:
            kept.append(f)
    return CleanPlan(root, by, now, selected, kept)


def apply(plan_: CleanPlan, *, trash: str | None = None) -> CleanPlan:
    """Remove (or move to ``trash``) what the plan lists; per-file errors are collected, not
    raised, and files that vanished meanwhile are skipped."""
    plan_.bytes  # noqa: B018  (measured now: afterwards the files are gone)
    remote = storage.is_url(plan_.root)
    if trash is not None and (remote or storage.is_url(trash)):
        if storage.is_url(trash) and remote and storage.inside(trash, plan_.root):
            raise UsageError(
                "--trash must be outside the cleaned directory (events in it would be read as runs)"
            )
        stamp = time.strftime("clean-%Y%m%dT%H%M%SZ", time.gmtime())
        plan_.trash = storage.join(trash, stamp)
    elif trash is not None:
        trash_dir = os.path.abspath(trash)
        if real_inside(trash_dir, plan_.root) or os.path.realpath(trash_dir).startswith(
            os.path.realpath(plan_.root) + os.sep
        ):
            raise UsageError(
                "--trash must be outside the cleaned directory (events in it would be read as runs)"
            )
        plan_.trash = os.path.join(trash_dir, time.strftime("clean-%Y%m%dT%H%M%SZ", time.gmtime()))
    dirs: set[str] = set()
    for action in plan_.selected:
        for path in action.remove:
            try:
                if not real_inside(path, plan_.root):
                    plan_.errors.append(f"{path}: skipped, it is a symlink or outside the root")
                    continue
                if remote or (plan_.trash is not None and storage.is_url(plan_.trash)):
                    if plan_.trash is not None:
                        target = storage.relative(path, plan_.root)
                        storage.move(path, storage.join(plan_.trash, *target.split("/")))
                    else:
                        storage.remove(path)
                elif plan_.trash is not None:
                    target = os.path.join(plan_.trash, os.path.relpath(path, plan_.root))
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    shutil.move(path, target)
                else:
                    os.unlink(path)
                plan_.removed.append(path)
                dirs.add(storage.parent(path))
            except FileNotFoundError:
                continue  # vanished meanwhile: nothing to do
            except OSError as e:
                plan_.errors.append(f"{path}: {e.strerror or e}")
            except TbtoolError as e:
                plan_.errors.append(str(e))
    if remote:
        plan_.removed_dirs.extend(storage.remove_empty_dirs(dirs, plan_.root))
        return plan_
    for directory in sorted(dirs, key=len, reverse=True):
        _remove_empty_parents(directory, plan_)
    return plan_


def _remove_empty_parents(directory: str, plan_: CleanPlan) -> None:
    root = os.path.abspath(plan_.root)
    current = os.path.abspath(directory)
    while current != root and current.startswith(root + os.sep):
        try:
            if os.path.islink(current) or os.listdir(current):
                return
            os.rmdir(current)
            plan_.removed_dirs.append(current)
        except FileNotFoundError:
            pass
        except OSError:
            return
        current = os.path.dirname(current)
