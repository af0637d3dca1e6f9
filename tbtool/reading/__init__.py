"""Readers, tables and frames: what ``tbtool.read_*`` and ``tbtool.LogReader`` give users.

- ``reader``: the reader core (:class:`~tbtool.reading.reader.Reader`): runs, filters,
  events and typed values, by either read path.
- ``log_reader``: the public :class:`~tbtool.LogReader`, the core plus ``table()`` / ``frame()``.
- ``tables``: Arrow tables per kind in contract.md's schemas, streamed a chunk at a time
  (their rows: :mod:`tbtool.columnar.table_rows`).
- ``frames``: pandas DataFrames and whole Arrow tables per kind (``read_scalars`` & co).
- ``hparams``: the hparams table, one row per session run.
- ``aggregates``: how a series becomes one number (``last``, ``min``, ``best``...).
- ``inventory``: what a logdir holds at a glance (the library side of ``tbtool ls``).
"""
