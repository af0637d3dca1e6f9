"""validate's findings about a logdir as a whole: hparams sessions against their experiment,
files that hold events under a name TensorBoard will not load, and temporaries left by
tbtool commands that were killed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.message import DecodeError

from tbtool import storage
from tbtool.errors import TbtoolError
from tbtool.format.record import RecordReader
from tbtool.ops.findings import FindingCollector
from tbtool.ops.validate_codes import finding
from tbtool.proto import event_pb2
from tbtool.runs.logdir import is_event_file_name
from tbtool.storage.temporaries import find_leftovers
from tbtool.values.typed import HParams


class HParamsTracker:
    """What the hparams checks need across runs: sessions, experiments, scalar tags."""

    def __init__(self) -> None:
        self.sessions: set[str] = set()
        self.experiments: dict[str, list[tuple[str, str]]] = {}
        self.scalar_tags: set[tuple[str, str]] = set()

    def add(self, run: str, value: HParams) -> None:
        if value.part == "session_start_info":
            self.sessions.add(run)
        elif value.part == "experiment":
            names = [m.get("name", {}) for m in value.data.get("metric_infos", [])]
            self.experiments[run] = [(n.get("group", ""), n.get("tag", "")) for n in names]

    def finish(self, collector: FindingCollector) -> None:
        for session in sorted(self.sessions):
            experiment = _nearest_ancestor(session, self.experiments)
            if experiment is None:
                collector.add(
                    finding(
                        "hparams-no-experiment",
                        "hparams session has no experiment (hparams_config) in its run or a "
                        "parent run; TensorBoard infers one from all sessions",
                        run=session,
                    )
                )
                continue
            for group, tag in self.experiments[experiment]:
                if not self._logged(session, group, tag):
                    where = f"{session}/{group}" if group and session != "." else group or session
                    collector.add(
                        finding(
                            "hparams-metric-missing",
                            f"metric {tag!r} (group {group!r}) is declared by the experiment but "
                            f"never logged in run {where!r} or its sub-runs",
                            run=session,
                            tag=tag,
                        )
                    )

    def _logged(self, session: str, group: str, tag: str) -> bool:
        base = session if not group else (group if session == "." else f"{session}/{group}")
        return any(
            t == tag and (r == base or base == "." or r.startswith(base + "/"))
            for r, t in self.scalar_tags
        )


def _nearest_ancestor(run: str, runs: dict[str, Any]) -> str | None:
    candidate = run
    while True:
        if candidate in runs:
            return candidate
        if candidate in (".", ""):
            return None
        candidate = candidate.rsplit("/", 1)[0] if "/" in candidate else "."


def unrecognized_event_files(paths: Sequence[str], collector: FindingCollector) -> None:
    """Files that hold events but whose name TensorBoard does not recognise."""
    for path in paths:
        if not storage.isdir(path):
            continue
        for directory, files in storage.walk_files(path):
            for name in sorted(files):
                if is_event_file_name(name):
                    continue
                full = storage.join(directory, name)
                if _starts_with_file_version(full):
                    collector.add(
                        finding(
                            "unrecognized-event-file",
                            "holds TensorBoard events but its name lacks 'tfevents', so "
                            "TensorBoard (and tbtool, unless given the file) will not read it",
                            file=full,
                        )
                    )


#: The finding code of each status of :class:`~tbtool.storage.temporaries.Leftover`.
_LEFTOVER_CODES = {
    "stale": "stale-temporary",
    "live": "temporary-in-use",
    "other-host": "unowned-temporary",
    "unknown": "unowned-temporary",
}


def leftover_temporaries(paths: Sequence[str], collector: FindingCollector) -> None:
    """``.tbtool-tmp-*`` files and directories below ``paths``: who left them, and whether
    the next command removes them (:mod:`tbtool.storage.temporaries`)."""
    for leftover in find_leftovers(paths):
        collector.add(
            finding(
                _LEFTOVER_CODES[leftover.status],
                f"{'directory' if leftover.is_dir else 'file'} of {leftover.size:,} bytes "
                f"{leftover.describe()}",
                file=leftover.path,
            )
        )


def _starts_with_file_version(path: str) -> bool:
    try:
        with RecordReader(path, max_record_length=1 << 16, chunk_size=1 << 16) as reader:
            record = reader.read()
    except (OSError, TbtoolError):
        return False
    if record is None:
        return False
    try:
        return event_pb2.Event.FromString(record.payload).WhichOneof("what") == "file_version"
    except DecodeError:
        return False
