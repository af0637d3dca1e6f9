"""Writing outputs the way contract.md's data-safety rules ask: never over an input
(:func:`refuse_overlap`), never over an existing file unless told (``overwrite``), and through
a temporary name beside the target renamed on success, so an interruption leaves no partial
file (:func:`write_output`, for one whole file such as a report or a chart)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from tbtool import storage
from tbtool.errors import UsageError
from tbtool.runs.logdir import is_event_file_name
from tbtool.storage.temporaries import temporary_file


def check_output(
    path: str | os.PathLike, inputs: Iterable[str], *, command: str, overwrite: bool = False
) -> None:
    """Refuse ``path`` as the one file a command writes from ``inputs`` before it reads them:
    an input or over one (:func:`refuse_overlap`, a file beside the runs allowed), a
    directory, or an existing file without ``overwrite``."""
    path = os.fspath(path)
    refuse_overlap(path, inputs, command=command, beside_runs=True)
    if storage.exists(path):
        if storage.isdir(path):
            raise UsageError(f"{path} is a directory; give a file name")
        if not overwrite:
            raise UsageError(f"{path} exists; add --overwrite to replace it")


def write_output(
    path: str | os.PathLike,
    data: bytes,
    *,
    inputs: Iterable[str],
    command: str,
    overwrite: bool = False,
) -> None:
    """Write ``data`` to ``path`` (a local path or URL; an object store's put is atomic),
    checked again (:func:`check_output`) as the inputs may have changed while read."""
    path = os.fspath(path)
    check_output(path, inputs, command=command, overwrite=overwrite)
    if storage.is_url(path):
        storage.write_bytes(path, data)
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"{os.path.dirname(path) or '.'}: no such directory")
    with temporary_file(directory) as temporary:  # locked; swept if a kill -9 leaves it
        with open(temporary, "wb") as f:
            f.write(data)
        os.replace(temporary, path)


def refuse_overlap(
    output: str,
    inputs: Iterable[str],
    *,
    command: str,
    input_dirs: bool = False,
    beside_runs: bool = False,
) -> None:
    """Raise :class:`UsageError` when ``output`` is an input, lies inside one or contains one
    (after resolving symlinks), so a command never writes over what it reads. With
    ``input_dirs`` an input file stands for its whole directory: a merged event file beside
    an input's would join that input's run. With ``beside_runs`` (one file such as a report)
    the output may lie inside an input directory, as ``logs/report.html`` does, unless its
    name is an event file's: no reader takes it for one of the run's files."""
    for path in inputs:
        top = path
        if input_dirs and not storage.isdir(path):
            top = storage.parent(path) or "."
        if not storage.overlaps(output, top):
            continue
        if (
            beside_runs
            and not storage.within(top, output)
            and not is_event_file_name(storage.basename(output))
        ):
            continue  # strictly inside a directory input, under a name no reader takes
        raise UsageError(f"output {output} overlaps input {path}: write the {command} elsewhere")
