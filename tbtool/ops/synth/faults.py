"""The faults ``tbtool synth --corrupt`` injects, each producing exactly one ``validate``
finding (docs/findings.md), so demos and tests of validate have a known answer.

Each fault goes into its own run (the i-th fault into the i-th run), in that run's last file
(its first for ``no-file-version``), at a step in the middle of the file. Three families:

* framing faults damage the bytes of the first record written at that step (``Damage``), or
  the end of the file (``truncate``, ``zero-pad``);
* event faults change what is logged at that step (a NaN loss, a repeated or backward step,
  a clock jump, a broken image, ...), through the same encoders as everything else;
* file faults add or rename files (an empty file, a file of random bytes, a renamed file,
  an abandoned run).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any

from tbtool.errors import UsageError
from tbtool.format.masked_crc import masked_crc32c
from tbtool.format.record import encode_record
from tbtool.writer.event_file import frame


@dataclass
class InjectedFault:
    """Where a fault went: the finding ``validate`` reports for it is ``code`` there."""

    fault: str
    code: str
    run: str
    file: str
    offset: int | None = None
    index: int | None = None
    step: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Fault:
    """One fault: the finding it produces, what it needs, and where it acts."""

    name: str
    code: str
    description: str
    family: str  # "framing", "end", "event", "file"
    needs_kind: str | None = None
    styles: tuple[str, ...] = ("torch", "tensorboardx", "tf2")


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault("bitflip", "data-crc-mismatch", "one bit flipped in a record's payload", "framing"),
        Fault("length", "length-crc-mismatch", "one bit flipped in a record's length", "framing"),
        Fault(
            "too-large",
            "record-too-large",
            "a record's length set to 2**40 with a valid length CRC",
            "framing",
        ),
        Fault(
            "garbage",
            "undecodable-event",
            "a record with valid checksums whose payload is not an Event",
            "framing",
        ),
        Fault("truncate", "truncated-record", "the file cut inside its last record", "end"),
        Fault("zero-pad", "trailing-bytes", "64 zero bytes after the last record", "end"),
        Fault(
            "no-file-version",
            "missing-file-version",
            "the first file of a run lacks its file_version event",
            "file",
        ),
        Fault("empty", "empty-file", "an extra zero-byte event file in the run", "file"),
        Fault(
            "not-events",
            "not-event-file",
            "an extra file named like an event file holding random bytes",
            "file",
        ),
        Fault(
            "bad-name",
            "unrecognized-event-file",
            "an event file renamed so its name lacks 'tfevents'",
            "file",
        ),
        Fault(
            "empty-run",
            "run-without-summaries",
            "an extra run whose file holds only the file_version event",
            "file",
        ),
        Fault("nan", "nonfinite-value", "a NaN loss at one step", "event", "scalars"),
        Fault(
            "duplicate-step",
            "duplicate-step",
            "the loss logged twice at one step",
            "event",
            "scalars",
        ),
        Fault(
            "step-backwards",
            "step-backwards",
            "the loss logged at the previous step again, without a restart",
            "event",
            "scalars",
        ),
        Fault(
            "clock-jump",
            "wall-time-backwards",
            "one event's wall time an hour earlier than the one before",
            "event",
            "scalars",
        ),
        Fault(
            "nan-wall-time", "nonfinite-wall-time", "one event's wall time NaN", "event", "scalars"
        ),
        Fault(
            "kind-change",
            "kind-changed",
            "a histogram tag logged as a scalar at one step",
            "event",
            "histograms",
        ),
        Fault(
            "histogram-counts",
            "histogram-count-mismatch",
            "a histogram whose num is not the sum of its buckets",
            "event",
            "histograms",
            ("torch", "tensorboardx"),
        ),
        Fault(
            "bad-image",
            "image-undecodable",
            "an image value whose bytes are not an image",
            "event",
            "images",
        ),
        Fault(
            "image-size",
            "image-size-mismatch",
            "an image declared 64x64 holding a 32x32 PNG",
            "event",
            "images",
        ),
        Fault(
            "empty-value",
            "empty-value",
            "a summary value holding nothing (torch add_video without moviepy)",
            "event",
        ),
    )
}


def check_faults(names: list[str], kinds: set[str], style: str, runs: int) -> list[Fault]:
    """The requested faults, or a :class:`UsageError` saying why they cannot be injected."""
    faults = []
    for name in names:
        fault = FAULTS.get(name)
        if fault is None:
            raise UsageError(f"--corrupt: unknown fault {name!r}; choose from {', '.join(FAULTS)}")
        if fault.needs_kind and fault.needs_kind not in kinds:
            raise UsageError(f"--corrupt {name} needs {fault.needs_kind} in --kind")
        if style not in fault.styles:
            raise UsageError(
                f"--corrupt {name} cannot be written in the {style} style "
                f"({', '.join(fault.styles)} only)"
            )
        faults.append(fault)
    if len(set(names)) != len(names):
        raise UsageError("--corrupt: each fault may be given once")
    if len(faults) > runs:
        raise UsageError(
            f"--corrupt: {len(faults)} faults need at least {len(faults)} runs (each fault "
            f"goes into its own run); use --num-runs {len(faults)}"
        )
    return faults


# -- framing damage ------------------------------------------------------------------------------
def damage(fault: Fault, buffer: memoryview, junk: bytes) -> bytes:
    """Damage the record starting at ``buffer[0]`` in place, or return a record to write
    before it (``garbage``)."""
    if fault.name == "bitflip":
        buffer[12 + 1] ^= 0x01  # lowest byte of the wall time: the payload still decodes
    elif fault.name == "length":
        buffer[0] ^= 0x01
    elif fault.name == "too-large":
        length = struct.pack("<Q", 1 << 40)
        buffer[0:12] = length + struct.pack("<I", masked_crc32c(length))
    elif fault.name == "garbage":
        # Field 0 with wire type 7 can start no protobuf message.
        return encode_record(b"\x07" + junk)
    return b""


def damage_end(fault: Fault, path: str, last_record_offset: int, size: int) -> int:
    """``truncate`` or ``zero-pad`` a finished file; returns the byte offset of the fault."""
    if fault.name == "truncate":
        payload = size - last_record_offset - 16
        os.truncate(path, last_record_offset + 12 + payload // 2)
        return last_record_offset
    with open(path, "ab") as f:
        f.write(bytes(64))
    return size


def random_bytes_not_a_record(junk: bytes) -> bytes:
    """Bytes whose first 12 do not form a valid TFRecord header."""
    data = bytearray(junk)
    if struct.unpack("<I", data[8:12])[0] == masked_crc32c(bytes(data[:8])):
        data[8] ^= 0xFF
    return bytes(data)


def file_fault(
    fault: Fault,
    run: str,
    run_dir: str,
    files: list[Any],
    style: Any,
    start_wall: float,
    pid: int,
    junk: bytes,
) -> tuple[InjectedFault, tuple[str, int] | None]:
    """Apply an ``end`` or ``file`` fault to a written run (``files``: its files, in order,
    with ``path``, ``size``, ``records``, ``last_record``). Returns where it went and the
    (path, records) of a file it added."""
    last = files[-1]
    if fault.family == "end":
        offset = damage_end(fault, last.path, last.last_record, last.size)
        index = last.records - 1 if fault.name == "truncate" else last.records
        return InjectedFault(fault.name, fault.code, run, last.path, offset, index), None
    if fault.name == "no-file-version":  # the header was left out when the file was written
        return InjectedFault(fault.name, fault.code, run, files[0].path, 0, 0), None
    if fault.name in ("empty", "not-events"):  # named to sort after the run's files
        seconds = int(os.path.basename(last.path).split(".")[3]) + 1
        path = os.path.join(run_dir, style.file_name(seconds, pid))
        with open(path, "xb") as f:
            if fault.name == "not-events":
                f.write(random_bytes_not_a_record(junk))
        offset = 0 if fault.name == "not-events" else None
        return InjectedFault(fault.name, fault.code, run, path, offset, offset), (path, 0)
    if fault.name == "bad-name":
        path = os.path.join(run_dir, os.path.basename(last.path).replace("tfevents", "events"))
        os.rename(last.path, path)
        last.path = path
        return InjectedFault(fault.name, fault.code, run, path), None
    if fault.name == "empty-run":
        crashed = run_dir + "-crashed"
        os.makedirs(crashed)
        path = os.path.join(crashed, style.file_name(int(start_wall), pid + 500))
        with open(path, "xb") as f:
            f.write(frame([style.header(start_wall)]))
        name = os.path.basename(crashed)
        return InjectedFault(fault.name, fault.code, name, path), (path, 1)
    raise ValueError(f"{fault.name} is not a file fault")  # pragma: no cover
