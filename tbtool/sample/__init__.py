"""A small fixed logdir shipped with tbtool (made by scripts/make_sample.py): the examples in
docs/ls.md, docs/dump.md and some tests use it.

``python -m tbtool.sample`` prints its path: ``tbtool ls "$(python -m tbtool.sample)"``. For
sample data of any size, kind or writer style, use ``tbtool synth`` (docs/synth.md).
"""

from __future__ import annotations

from pathlib import Path


def path() -> str:
    """Directory of the sample logdir (runs ``baseline`` and ``lr_0.05``, with a restart)."""
    return str(Path(__file__).resolve().parent / "logdir")
