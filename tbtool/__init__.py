"""tbtool: read, check, repair, merge and export TensorBoard event logs.

The public names below are imported on first use (module ``__getattr__``), not with the
package: ``read_scalars`` & co need pandas and pyarrow, the readers and the writer numpy and
protobuf, and a program that only asks for ``tbtool.__version__`` or ``TbtoolError`` (or the
CLI printing its ``--help``) should not pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tbtool._version import __version__
from tbtool.errors import DamagedFiles, TbtoolError

if TYPE_CHECKING:
    from tbtool.ops.summary import summarize
    from tbtool.reading.frames import (
        read_audio,
        read_histograms,
        read_hparams,
        read_images,
        read_pr_curves,
        read_scalars,
        read_table,
        read_tensors,
        read_text,
    )
    from tbtool.reading.log_reader import LogReader
    from tbtool.writer import FileWriter, SummaryWriter

#: Public name -> the module that defines it (imported when the name is first asked for).
_LAZY = {
    "FileWriter": "tbtool.writer",
    "LogReader": "tbtool.reading.log_reader",
    "SummaryWriter": "tbtool.writer",
    "read_audio": "tbtool.reading.frames",
    "read_histograms": "tbtool.reading.frames",
    "read_hparams": "tbtool.reading.frames",
    "read_images": "tbtool.reading.frames",
    "read_pr_curves": "tbtool.reading.frames",
    "read_scalars": "tbtool.reading.frames",
    "read_table": "tbtool.reading.frames",
    "read_tensors": "tbtool.reading.frames",
    "read_text": "tbtool.reading.frames",
    "summarize": "tbtool.ops.summary",
}

__all__ = [
    "DamagedFiles",
    "FileWriter",
    "LogReader",
    "SummaryWriter",
    "TbtoolError",
    "__version__",
    "read_audio",
    "read_histograms",
    "read_hparams",
    "read_images",
    "read_pr_curves",
    "read_scalars",
    "read_table",
    "read_tensors",
    "read_text",
    "summarize",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use and keep the name (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tbtool' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
