"""A small logdir shipped with tbtool, to try the commands on (made by scripts/make_sample.py).

``python -m tbtool.sample`` prints its path: ``tbtool ls "$(python -m tbtool.sample)"``.
"""

from __future__ import annotations

from pathlib import Path


def path() -> str:
    """Directory of the sample logdir (runs ``baseline`` and ``lr_0.05``, with a restart)."""
    return str(Path(__file__).resolve().parent / "logdir")
