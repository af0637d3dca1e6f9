"""The batch path: event files decoded a chunk at a time into column arrays.

``scan`` reads a file in large chunks into value indexes (``index``), with the C extension
``tbtool.columnar._columnar`` when it is built (``native``) or in pure Python (``framing``,
``manyparse``); ``assemble`` applies a run's normalization rules, filters and purge
semantics to those arrays. :mod:`tbtool.reading.tables` turns the result into Arrow tables. The
per-event iterator (``Reader.values``) gives the same values; tests hold both to it.
"""
