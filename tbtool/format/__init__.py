"""The file format: TFRecord framing, its checksums, and the protobuf messages inside.

Knows bytes and records, not runs or typed values (format.md §1-§2). The generated
messages themselves live in :mod:`tbtool.proto` (the same layer).

- ``masked_crc``: TensorFlow's masked CRC-32C.
- ``record``: framing: reading records resumably (growing files), writing them, typed
  errors with file, offset and record index.
- ``salvage``: every readable record of a damaged file, resynchronising after lost
  boundaries (what merge uses to keep what a reader must stop at).
- ``summary_metadata``: which summary values carry metadata, and metadata bytes as messages.
"""
