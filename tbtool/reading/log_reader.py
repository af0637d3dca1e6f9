"""The public reader, :class:`LogReader`: the reader core plus its tables and frames.

``LogReader.table()`` and ``.frame()`` read one kind through :mod:`tbtool.reading.frames`,
which reads through a :class:`~tbtool.reading.reader.Reader`. They live in this subclass so
that the reader core stays below the table layer: nothing under ``tbtool.reading`` imports
this module, so the imports point one way. ``frames`` is imported when a method is called:
it needs pandas, which ``ls`` and ``export`` (that use a LogReader too) never load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tbtool.reading.reader import Reader, Steps


class LogReader(Reader):
    __doc__ = Reader.__doc__

    def table(
        self,
        kind: str = "scalars",
        *,
        steps: Steps = None,
        jobs: int | None = None,
        engine: str = "auto",
        metric_agg: str = "last",
        metrics: Sequence[Any] = (),
        categorical: bool = True,
    ) -> Any:
        """One kind as a ``pyarrow.Table`` (see :func:`tbtool.read_table`; runs, tags,
        purge and skip_corrupt are this reader's)."""
        from tbtool.reading.frames import read_table

        return read_table(
            self, kind, steps=steps, jobs=jobs, engine=engine, metric_agg=metric_agg,
            metrics=metrics, categorical=categorical,
        )  # fmt: skip

    def frame(
        self,
        kind: str = "scalars",
        *,
        steps: Steps = None,
        jobs: int | None = None,
        engine: str = "auto",
        metric_agg: str = "last",
        metrics: Sequence[Any] = (),
        categorical: bool = True,
    ) -> Any:
        """One kind as a pandas DataFrame (the schemas of ``tbtool export``; options as in
        :meth:`table`)."""
        from tbtool.reading.frames import read_frame

        return read_frame(
            self, kind, steps=steps, jobs=jobs, engine=engine, metric_agg=metric_agg,
            metrics=metrics, categorical=categorical,
        )  # fmt: skip
