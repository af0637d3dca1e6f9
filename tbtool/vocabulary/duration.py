"""Durations as users write them: ``90`` (seconds), ``"90s"``, ``"15m"``, ``"2h"``, ``"30d"``,
``"1w"`` (check's duration bounds, and every CLI option that takes a DURATION)."""

from __future__ import annotations

import re
from typing import Any

from tbtool.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: Any, what: str = "duration") -> float:
    """Seconds; :class:`UsageError` naming ``what`` (if given) for anything else."""
    prefix = f"{what}: " if what else ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise UsageError(f"{prefix}a duration cannot be negative")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise UsageError(f"{prefix}{value!r} is not a duration like 90, '15m', '2h' or '30d'")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
