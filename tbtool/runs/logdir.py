"""Finding runs and their event files, in the order TensorBoard reads them.

A run is a directory that directly holds a file whose basename contains ``tfevents``; its
name is its path relative to the logdir (``.`` for the logdir itself; a single event file
given as PATH is a run named after its directory). Files of a run are read
in lexicographic order of their basenames (contract.md; format.md §5.4, §6). A PATH may be a
logdir, a run directory or a single event file. A PATH may also be a URL
(:mod:`tbtool.storage`): its runs are found by listing every object below it.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tbtool import storage
from tbtool.errors import PathError, UsageError

EVENT_FILE_INFIX = "tfevents"
#: Profiler marker files: they make a directory a run but hold no events (format.md §5.4).
PROFILE_EMPTY_SUFFIX = ".profile-empty"


def is_event_file_name(name: str) -> bool:
    """Does this basename mark an event file (TensorBoard's ``IsTensorFlowEventsFile``)?"""
    return EVENT_FILE_INFIX in os.path.basename(name)


def is_loadable_event_file(name: str) -> bool:
    """An event file whose events should be read (profiler markers are skipped)."""
    return is_event_file_name(name) and not name.endswith(PROFILE_EMPTY_SUFFIX)


@dataclass(frozen=True, slots=True)
class Run:
    """A run: its name, its directory and its event files in read order."""

    name: str
    directory: str
    files: tuple[str, ...]


def _run_files(directory: str, names: Iterable[str]) -> tuple[str, ...]:
    chosen = sorted(n for n in names if is_loadable_event_file(n))
    return tuple(os.path.join(directory, n) for n in chosen)


def _relative_name(directory: str, top: str) -> str:
    rel = os.path.relpath(directory, top)
    return rel.replace(os.sep, "/")


def find_runs(path: str, *, follow_symlinks: bool = True) -> list[Run]:
    """Runs under one PATH (a logdir, a run directory or one event file), sorted by name.

    A file named explicitly is read whatever its name; a directory holding no event files
    yields no runs. Raises :class:`PathError` if PATH does not exist.
    """
    path = os.fspath(path)
    if storage.is_url(path):
        return _find_remote_runs(path)
    if os.path.isfile(path):
        directory = os.path.dirname(path) or "."
        return [Run(_directory_name(directory), directory, (path,))]
    if not os.path.isdir(path):
        try:
            os.lstat(path)
        except FileNotFoundError:
            raise PathError("no such file or directory", file=path) from None
        except OSError as e:  # e.g. a parent directory we may not enter
            raise PathError(f"cannot read this path ({e.strerror or e})", file=path) from None
        raise PathError("not a regular file or directory", file=path)
    runs = []
    for directory, files in storage.walk_files(path, follow_symlinks=follow_symlinks):
        if any(is_event_file_name(f) for f in files):
            runs.append(
                Run(_relative_name(directory, path), directory, _run_files(directory, files))
            )
    return sorted(runs, key=lambda r: r.name)


def _find_remote_runs(url: str) -> list[Run]:
    """Runs below a URL, from one listing of every object under it (no directories)."""
    listing = storage.list_files(url)
    if not listing:
        if storage.isdir(url):  # only folder markers (``dir/`` objects): an empty directory
            return []
        raise PathError("no such file or directory (no object at or below this URL)", file=url)
    if len(listing) == 1 and storage.trim(url) in listing:  # a single object
        directory = storage.parent(url)
        return [Run(_directory_name(directory), directory, (storage.trim(url),))]
    groups: dict[str, list[str]] = {}
    for full in listing:
        groups.setdefault(storage.parent(full), []).append(storage.basename(full))
    runs = []
    for directory, names in groups.items():
        if any(is_event_file_name(n) for n in names) and storage.inside(directory, url):
            chosen = sorted(n for n in names if is_loadable_event_file(n))
            files = tuple(storage.join(directory, n) for n in chosen)
            runs.append(Run(storage.relative(directory, url), directory, files))
    return sorted(runs, key=lambda r: r.name)


def _directory_name(directory: str) -> str:
    """The name of a single event file's run: its directory's own name (what a user calls
    the run), not ``.``."""
    if storage.is_url(directory):
        return storage.basename(directory) or storage.trim(directory)
    return os.path.basename(os.path.abspath(directory)) or directory


def _qualified(prefix: str, name: str) -> str:
    prefix = prefix.rstrip("/") or "/"
    return prefix if name == "." else f"{prefix}/{name}" if prefix != "/" else f"/{name}"


def discover(paths: Sequence[str] | str, run_patterns: str | Sequence[str] = ()) -> list[Run]:
    """Runs of every PATH. With several PATHs, run names are prefixed by the PATH as given so
    they stay distinct (a single event file's run is named by its directory as given, and
    files of one directory named one by one make one run). ``run_patterns`` are regular
    expressions searched in the run name; a run is kept if any matches (all are kept when
    none are given)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [os.fspath(paths)]
    several = len(paths) > 1
    runs: dict[str, Run] = {}
    for path in map(os.fspath, paths):
        for run in find_runs(path):
            if several:
                run = Run(_qualified_name(path, run), run.directory, run.files)
            same = runs.get(run.name)
            if same is not None and same.directory == run.directory:
                files = sorted(set(same.files + run.files), key=storage.basename)
                run = Run(run.name, run.directory, tuple(files))
            runs[run.name] = run
    found = list(runs.values())
    if run_patterns:
        regexes = compile_patterns(as_patterns(run_patterns, "runs"))
        found = [r for r in found if any(rx.search(r.name) for rx in regexes)]
    return found


def _qualified_name(path: str, run: Run) -> str:
    """A run's name among several PATHs: prefixed by its PATH, or for a PATH that is one
    event file, the file's directory as given."""
    if run.files == ((storage.trim(path) if storage.is_url(path) else path),):
        return storage.parent(path).rstrip("/") or run.name
    return _qualified(path, run.name)


def as_patterns(patterns: str | Sequence[str] | None, name: str) -> tuple[str, ...]:
    """``runs=``/``tags=`` as given to a reader: one pattern (a string) or several; a string
    is never taken as a sequence of one-character patterns. :class:`TypeError` naming the
    parameter for anything else."""
    if patterns is None:
        return ()
    if isinstance(patterns, str):
        return (patterns,)
    if isinstance(patterns, (bytes, Mapping)) or not isinstance(patterns, Iterable):
        raise TypeError(f"{name} must be a string or a sequence of strings, not {_type(patterns)}")
    found = tuple(patterns)
    for pattern in found:
        if not isinstance(pattern, str):
            raise TypeError(f"{name} must hold strings, not {_type(pattern)}: {pattern!r}")
    return found


def _type(value: object) -> str:
    return type(value).__name__


def compile_patterns(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    """Compile ``--run`` regular expressions, naming the bad one in the error."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as e:
            raise UsageError(f"invalid --run regular expression {pattern!r}: {e}") from None
    return compiled


def tag_matcher(globs: str | Sequence[str]):  # -> Callable[[str], bool]
    """A predicate for ``--tag`` glob patterns (any may match; no patterns match all; a
    string is one pattern)."""
    globs = as_patterns(globs, "tags")
    if not globs:
        return lambda tag: True
    regexes = [re.compile(fnmatch.translate(g)) for g in globs]
    return lambda tag: any(rx.match(tag) for rx in regexes)
