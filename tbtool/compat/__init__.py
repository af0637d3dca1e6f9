"""Drop-in replacements for other tools' readers, built on tbtool's reader.

- ``tbparse``: ``tbtool.compat.tbparse.SummaryReader``, tbparse's ``SummaryReader``.
- ``tbparse_frames``: one event file's frames in tbparse's layouts.
- ``tbparse_events``: the per-event variant (every event through protobuf).
- ``legacy_accumulator``: what TensorBoard's legacy ``EventAccumulator`` keeps of a file.
- ``columnar_accumulator``: the same, from the batch path's value indexes.
"""
