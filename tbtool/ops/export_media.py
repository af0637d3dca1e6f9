"""Images and audio exported as files, with an index table that points at them.

Each encoded image or clip is written as it was logged (PNG, GIF for videos, WAV...; the
extension comes from its magic bytes) to ``<root>/<run>/<tag>/<step>_<sample>.<ext>``
(relative to the export's output directory; run and tag keep their ``/`` as directories,
other unsafe characters are percent-encoded). The index table is the ``images`` / ``audio``
table with ``data`` replaced by that relative ``path``; its ``run`` and ``tag`` columns hold
the real names.

File systems refuse names over 255 bytes, and percent-encoding makes a name up to 9 times
longer (a CJK character is 3 UTF-8 bytes, each written ``%XX``). So a part of a run or tag
whose encoded form is longer than :data:`MAX_NAME_BYTES` (100) is shortened: the encoded
form of as many whole characters as fit in 80 bytes, ``~`` and hexadecimal digits of the
BLAKE2b hash of the real name, :data:`MAX_NAME_BYTES` + 1 bytes in all. The same name
always gives the same short form, two names the same one only if their 80-bit hashes
collide, and a shortened name, one byte longer than any name left whole, never equals one.
"""

from __future__ import annotations

import hashlib
import urllib.parse

import pyarrow as pa

from tbtool import storage
from tbtool.columnar import arrow
from tbtool.columnar.table_rows import SCHEMAS

_SAFE = "-_.~ +=,@"
#: The longest name of a directory written for a run or tag part, in bytes (see above).
MAX_NAME_BYTES = 100
#: Bytes of the encoded name a shortened name keeps.
_KEPT = 80


def index_schema(kind: str) -> pa.Schema:
    """The media table's schema with ``data`` replaced by ``path``."""
    schema = SCHEMAS[kind]
    return schema.set(schema.get_field_index("data"), pa.field("path", pa.string()))


def _encoded(name: str) -> str:
    return urllib.parse.quote(name, safe=_SAFE, errors="surrogateescape")


def _component(name: str) -> str:
    special = {"": "_", ".": "%2E", "..": "%2E%2E"}  # no empty or relative path parts
    encoded = special.get(name) or _encoded(name)
    if len(encoded) <= MAX_NAME_BYTES:  # ASCII: characters are bytes
        return encoded
    kept = ""
    for char in name:  # whole characters, so the prefix still decodes
        piece = _encoded(char)
        if len(kept) + len(piece) > _KEPT:
            break
        kept += piece
    digest = hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=32).hexdigest()
    return f"{kept}~{digest[: MAX_NAME_BYTES - len(kept)]}"


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
            index, pa.field("path", pa.string()), arrow.from_python(paths, pa.string())
        )
