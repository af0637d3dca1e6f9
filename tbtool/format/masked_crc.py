"""Masked CRC-32C, the checksum that guards every TFRecord header and payload.

TFRecord stores CRC-32C (Castagnoli) values "masked" (rotated and offset) because a CRC of
data that itself contains CRCs is weak (TF ``crc32c.h`` Mask/Unmask; format.md §1.2).
"""

from __future__ import annotations

import crc32c as _crc32c

MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """Plain CRC-32C of ``data`` (hardware-accelerated by the ``crc32c`` package)."""
    return _crc32c.crc32c(data)


def mask(crc: int) -> int:
    """Rotate right by 15 bits and add ``MASK_DELTA``, modulo 2**32."""
    return ((((crc >> 15) | (crc << 17)) & _U32) + MASK_DELTA) & _U32


def unmask(masked: int) -> int:
    """Inverse of :func:`mask`."""
    rot = (masked - MASK_DELTA) & _U32
    return ((rot >> 17) | (rot << 15)) & _U32


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """The value TFRecord stores for ``data``."""
    crc = _crc32c.crc32c(data)  # mask() inlined: this runs twice per record
    return ((((crc >> 15) | (crc << 17)) & _U32) + MASK_DELTA) & _U32
