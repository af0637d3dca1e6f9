"""The batch path: event files decoded a chunk at a time into column arrays, with the C
extension ``_columnar`` (``_columnar.c``) when it is built and the same in pure Python when not.

- ``decoder``: which decoder is in use (C or pure Python), and why.
- ``native``: the C extension and the glue around its output.
- ``framing``, ``manyparse``: the pure-Python batch framing and protobuf decoding.
- ``scan``: one event file in large chunks into value indexes (``index``).
- ``index``: a chunk's value index, one row per summary value, as numpy columns
  (``index_builder``: the same index built by the pure-Python decoder).
- ``restarts``: finding ``SessionLog`` STARTs ahead of a read (purge semantics).
- ``walk``: every run of a reader, its files in read order, a chunk at a time.
- ``parallel``: files read in worker processes (``--jobs``), handed over in read order;
  ``rows``: workers that also assemble, handing over finished rows (table reads).
- ``assemble``: a run's normalization rules, filters and purge semantics applied to arrays,
  giving ``pieces`` (a request's columns per chunk; value blocks for ls, dump and check).
- ``table_rows``: one table kind's rows and schemas, from pieces or typed values.
- ``whole``: whole tables built in place (what ``read_*`` returns).
- ``names``, ``arrow``: run and tag names as dictionaries; Arrow arrays from buffers.
- ``blobs``: images and clips as slices of the read buffers until copied once.
- ``run_table``: a run's records as flat arrays (what merge and purge plan from).
- ``text``: ``dump``'s lines built from columns.

The per-event iterator (``Reader.values``) gives the same values; tests hold both to it.
"""
