"""Writing one whole output file (a report, a chart) the way contract.md's data-safety rules
ask: never over an existing file unless told (``overwrite``), and through a temporary name
beside the target renamed on success, so an interruption leaves no partial file."""

from __future__ import annotations

import os
import tempfile

from tbtool import storage
from tbtool.errors import UsageError


def write_output(path: str | os.PathLike, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` (a local path or URL; an object store's put is atomic)."""
    path = os.fspath(path)
    if storage.exists(path):
        if storage.isdir(path):
            raise UsageError(f"{path} is a directory; give a file name")
        if not overwrite:
            raise UsageError(f"{path} exists; add --overwrite to replace it")
    if storage.is_url(path):
        storage.write_bytes(path, data)
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"{os.path.dirname(path) or '.'}: no such directory")
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
