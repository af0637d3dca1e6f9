"""Which decoder reads event files here: the C extension ``tbtool.columnar._columnar`` or the
pure-Python one, and why.

The extension is optional at install time (``pip install`` builds it where a C compiler
exists), so a machine without a compiler silently gets the slower decoder; ``tbtool
--version`` and ``ls --format json`` say which one runs (:func:`describe`). This module
imports nothing heavy, so ``--version`` stays fast.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

#: Setting it (to anything but ``0``) makes every reader use the pure-Python decoder.
PURE_PYTHON_ENV = "TBTOOL_PURE_PYTHON"


@cache
def _load() -> Any:
    try:
        from tbtool.columnar import _columnar
    except ImportError:
        return None
    return _columnar


def module() -> Any | None:
    """The extension module, or ``None`` if it is not built or disabled by the environment."""
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    return _load()


def available() -> bool:
    """Is the C decoder built (whatever the environment says)?"""
    return _load() is not None


def describe() -> dict[str, Any]:
    """``{"decoder": "c" | "python", "why": ..., "crc32c": ...}``: the decoder in use, why
    (for the pure-Python one: not built, or turned off by the environment), and the CRC-32C
    code the C decoder runs (``sse4.2``, ``armv8`` or ``software``)."""
    ext = module()
    if ext is not None:
        return {
            "decoder": "c",
            "why": "tbtool.columnar._columnar is built",
            "crc32c": ext.crc_path(),
        }
    if available():
        why = f"{PURE_PYTHON_ENV}={os.environ.get(PURE_PYTHON_ENV)} is set"
    else:
        why = "the C extension tbtool.columnar._columnar is not built (no C compiler at install?)"
    return {"decoder": "python", "why": why, "crc32c": "crc32c package"}


def summary() -> str:
    """One line for people: which decoder, and why when it is the slow one."""
    info = describe()
    if info["decoder"] == "c":
        return f"decoder: C extension (CRC-32C: {info['crc32c']})"
    return f"decoder: pure Python ({info['why']}; reading is about 10x slower)"
