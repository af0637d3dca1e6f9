"""The catalogue of validate's finding codes: severity and one-line meaning of each.

docs/findings.md explains every code and what to do about it; this table is its source.
"""

from __future__ import annotations

from typing import Any

from tbtool.ops.findings import Finding

#: code -> (default severity, one-line meaning). docs/findings.md explains each.
CODES: dict[str, tuple[str, str]] = {
    "empty-file": ("warning", "a zero-byte event file (its writer never flushed)"),
    "not-event-file": ("error", "the file is not TFRecord-framed events at all"),
    "length-crc-mismatch": ("error", "a record's length field is corrupt; the rest is unreadable"),
    "record-too-large": ("error", "a record claims an absurd length; the rest is unreadable"),
    "data-crc-mismatch": ("error", "a record's payload does not match its checksum"),
    "truncated-record": ("warning", "the file ends inside a record (still being written?)"),
    "trailing-bytes": ("warning", "zero bytes after the last record (preallocation or a crash)"),
    "undecodable-event": ("error", "a record's payload is not an Event protobuf"),
    "missing-file-version": ("warning", "the first record is not the file_version event"),
    "nonfinite-wall-time": ("error", "an event's wall_time is NaN or infinite"),
    "wall-time-backwards": ("warning", "wall_time decreases within a file"),
    "step-backwards": ("warning", "a tag's step goes back without a restart event"),
    "duplicate-step": ("warning", "a tag has two values at the same step"),
    "restart": ("info", "a SessionLog START: earlier values with step >= its step are dropped"),
    "nonfinite-value": ("warning", "a scalar is NaN or infinite"),
    "histogram-count-mismatch": ("error", "histogram bucket counts do not add up to num"),
    "undecodable-value": ("error", "a summary value's contents do not fit its kind"),
    "value-too-large": ("error", "a value would decode to more memory than its size allows"),
    "empty-value": ("warning", "a summary value holds no data"),
    "kind-changed": ("warning", "a tag's kind or plugin changes within a run"),
    "image-undecodable": ("error", "an image's bytes are not a readable image"),
    "image-size-mismatch": ("error", "an image's real size differs from its declared size"),
    "hparams-no-experiment": ("warning", "hparams sessions without an experiment definition"),
    "hparams-metric-missing": ("warning", "an hparams metric is never logged by a session"),
    "run-without-summaries": ("warning", "a run holds no summary values"),
    "unrecognized-event-file": ("warning", "an event file TensorBoard will not load (name)"),
    "no-event-files": ("error", "a PATH holds no event files at all (a gate on nothing)"),
    "stale-temporary": ("warning", "a temporary left by a tbtool command that was killed"),
    "unowned-temporary": ("warning", "a tbtool temporary whose owner cannot be checked here"),
    "temporary-in-use": ("info", "a temporary a running tbtool command is writing"),
}


def finding(code: str, message: str, *, severity: str | None = None, **where: Any) -> Finding:
    """A finding of ``code`` with its default severity unless one is given."""
    return Finding(code, severity or CODES[code][0], message, **where)
