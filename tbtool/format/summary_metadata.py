"""Which summary values carry metadata, and metadata bytes from a file as messages.

One rule for every reader (the per-event normalizer, both bulk decoders, validate, Dask): a
value has metadata when its ``SummaryMetadata`` holds at least one non-default field, that
is when its canonical serialization is not empty. Metadata that is present but empty
(``metadata {}``, an explicit ``data_class: 0`` or ``display_name: ""``) is no metadata:
protobuf drops it when it re-serializes, so the pure-Python decoder never sees it, while the
C decoder keeps the raw bytes of the field. Without one rule the two paths disagreed on
which value first set a tag's metadata (format.md §3.1), and ``validate`` on a kind change.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError

from tbtool.errors import EventDecodeError
from tbtool.proto import summary_pb2

SummaryMetadata = summary_pb2.SummaryMetadata


def has_metadata(value: Any) -> bool:
    """Does the ``Summary.Value`` carry metadata? (``ByteSize()`` is the length of the
    canonical serialization, so this is :func:`metadata_key` without building the bytes.)"""
    return value.HasField("metadata") and value.metadata.ByteSize() > 0


def metadata_key(metadata: Any) -> bytes | None:
    """The identity of a parsed ``SummaryMetadata``: its canonical serialization, or
    ``None`` when it holds nothing. Value indexes store these bytes (``ChunkIndex.metas``)."""
    return metadata.SerializeToString() or None


def parse_metadata(
    data: bytes, *, file: str, offset: int | None = None, index: int | None = None
) -> Any:
    """``data`` (bytes read from ``file``) as a ``SummaryMetadata``. Bytes protobuf rejects
    raise :class:`EventDecodeError` naming where they are, never protobuf's own error."""
    try:
        return SummaryMetadata.FromString(data)
    except DecodeError as e:
        raise EventDecodeError(
            f"summary metadata does not decode as a SummaryMetadata protobuf ({e})",
            file=file,
            offset=offset,
            index=index,
        ) from None
