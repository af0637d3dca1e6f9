"""Images and audio exported as files, with an index table that points at them.

Each encoded image or clip is written as it was logged (PNG, GIF for videos, WAV...; the
extension comes from its magic bytes) to ``<root>/<run>/<tag>/<step>_<sample>.<ext>``
(relative to the export's output directory; run and tag keep their ``/`` as directories,
other unsafe characters are percent-encoded). The index table is the ``images`` / ``audio``
table with ``data`` replaced by that relative ``path``.
"""

from __future__ import annotations

import urllib.parse

import pyarrow as pa

from tbtool import storage
from tbtool.tables import SCHEMAS

_SAFE = "-_.~ +=,@"


def index_schema(kind: str) -> pa.Schema:
    """The media table's schema with ``data`` replaced by ``path``."""
    schema = SCHEMAS[kind]
    return schema.set(schema.get_field_index("data"), pa.field("path", pa.string()))


def _component(name: str) -> str:
    special = {"": "_", ".": "%2E", "..": "%2E%2E"}  # no empty or relative path parts
    return special.get(name) or urllib.parse.quote(name, safe=_SAFE)


def _path_parts(text: str) -> list[str]:
    return [_component(part) for part in text.split("/")]


class MediaWriter:
    """Writes the blobs of ``images`` / ``audio`` batches under ``base/root``."""

    def __init__(self, base: str, root: str) -> None:
        self.base = base
        self.root = root
        self.files = 0
        self.bytes = 0
        self._used: set[str] = set()

    def _relative(self, run: str, tag: str, step: int, sample: int, fmt: str) -> str:
        ext = fmt if fmt not in ("unknown", "none") else "bin"
        parts = [self.root, *_path_parts(run), *_path_parts(tag)]
        stem = f"{step}_{sample}"
        path = "/".join([*parts, f"{stem}.{ext}"])
        n = 1
        while path in self._used:  # the same step logged twice (e.g. without purge)
            path = "/".join([*parts, f"{stem}-{n}.{ext}"])
            n += 1
        self._used.add(path)
        return path

    def convert(self, kind: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Write the batch's blobs; the same rows with ``path`` instead of ``data``."""
        columns = {name: batch.column(name).to_pylist() for name in ("run", "tag", "step")}
        samples = batch.column("sample").to_pylist()
        formats = batch.column("format").to_pylist()
        blobs = batch.column("data").to_pylist()
        paths = []
        for i, blob in enumerate(blobs):
            rel = self._relative(
                columns["run"][i], columns["tag"][i], columns["step"][i], samples[i], formats[i]
            )
            full = storage.join(self.base, *rel.split("/"))
            storage.makedirs(storage.parent(full))
            storage.write_bytes(full, blob)
            self.files += 1
            self.bytes += len(blob)
            paths.append(rel)
        index = batch.schema.get_field_index("data")
        return batch.drop_columns(["data"]).add_column(
            index, pa.field("path", pa.string()), pa.array(paths, type=pa.string())
        )
