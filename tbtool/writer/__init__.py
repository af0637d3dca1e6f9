"""Writing TensorBoard event files: :class:`SummaryWriter`, a faster drop-in for
``torch.utils.tensorboard.SummaryWriter``, and the low-level :class:`FileWriter`.

One module per idea: ``summary_writer`` (the facade's ``add_*`` methods), ``run_files``
(which file each event goes to, close and reopen), ``file_writer`` (events into one file),
``event_file`` (the background thread), ``file_names``, ``wire`` (hand-built protobuf
bytes), ``convert`` (numpy / torch / JAX / list inputs), and one encoder per kind
(``scalar``, ``histogram``, ``image``, ``figure``, ``video``, ``audio``, ``text``,
``tensor``, ``pr_curve``, ``mesh``, ``embedding``, ``hparams``, ``custom_scalars``,
``graph``), and ``upload`` (remote directories: written locally, uploaded whole).
See docs/writer.md.
"""

from __future__ import annotations

from tbtool.writer.event_file import EventWriteError, WriterClosedError, WriterForkedError
from tbtool.writer.file_writer import FileWriter
from tbtool.writer.summary_writer import SummaryWriter

__all__ = [
    "EventWriteError",
    "FileWriter",
    "SummaryWriter",
    "WriterClosedError",
    "WriterForkedError",
]
