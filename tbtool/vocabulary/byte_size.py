"""Byte sizes as users write them: ``500MB``, ``1.5GiB``, ``64k``, ``1000000`` (synth's
``--size``).

Decimal units (k/K/KB, M/MB, G/GB, T/TB) are powers of 1000, binary units (KiB, MiB, GiB, TiB)
powers of 1024, as ``ls -h --si`` and most disk tools count; a bare number is bytes.
"""

from __future__ import annotations

import re
from typing import Any

from tbtool.errors import UsageError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_FACTORS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(value: Any, what: str = "size") -> int:
    """Bytes; :class:`UsageError` naming ``what`` for anything that is not a size."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise UsageError(f"{what}: a size cannot be negative")
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise UsageError(f"{what}: {value!r} is not a size like 500MB, 1.5GiB, 64k or 1000000")
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    if unit in ("", "b"):
        factor = 1
    elif "i" in unit:
        factor = _BINARY[unit[0]]
    else:
        factor = _FACTORS[unit[0]]
    return int(number * factor)
