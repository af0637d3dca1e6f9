"""tbtool: read, check, repair, merge and export TensorBoard event logs."""

from __future__ import annotations

__version__ = "0.1.0"

from tbtool.errors import TbtoolError
from tbtool.frames import read_histograms, read_hparams, read_scalars, read_text
from tbtool.reader import LogReader
from tbtool.writer import FileWriter, SummaryWriter

__all__ = [
    "FileWriter",
    "LogReader",
    "SummaryWriter",
    "TbtoolError",
    "__version__",
    "read_histograms",
    "read_hparams",
    "read_scalars",
    "read_text",
]
