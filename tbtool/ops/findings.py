"""Findings: what ``validate`` and ``check`` report, and the report that carries them.

A finding has a stable ``code`` (documented in docs/findings.md), a severity and where it was
seen (file, byte offset, record index, run, tag, step). Repetitive findings (the same code on
the same tag) are folded into one with a ``count``, so a NaN in every step is one line, not a
million.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from tbtool.errors import location

SEVERITIES = ("info", "warning", "error")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def severity_rank(severity: str) -> int:
    return _RANK[severity]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem (or notable fact) about the logs."""

    code: str
    severity: str
    message: str
    file: str | None = None
    offset: int | None = None
    index: int | None = None
    run: str | None = None
    tag: str | None = None
    step: int | None = None
    count: int = 1

    def at_least(self, severity: str) -> bool:
        return _RANK[self.severity] >= _RANK[severity]

    def location(self) -> str:
        """``file, byte offset N, record I`` (or the run when there is nothing of those)."""
        where = location(self.file, self.offset, self.index)
        return where or (f"run {self.run}" if self.run is not None else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "offset": self.offset,
            "index": self.index,
            "run": self.run,
            "tag": self.tag,
            "step": self.step,
            "count": self.count,
        }


class FindingCollector:
    """Collects findings, folding repeats of (code, file, run, tag) into a count."""

    def __init__(self, ignore: Iterable[str] = ()) -> None:
        self.ignore = frozenset(ignore)
        self._findings: list[Finding] = []
        self._folded: dict[tuple, int] = {}

    def add(self, finding: Finding, *, fold: bool = False) -> None:
        if finding.code in self.ignore:
            return
        if fold:
            key = (finding.code, finding.file, finding.run, finding.tag)
            at = self._folded.get(key)
            if at is not None:
                first = self._findings[at]
                self._findings[at] = replace(first, count=first.count + finding.count)
                return
            self._folded[key] = len(self._findings)
        self._findings.append(finding)

    @property
    def findings(self) -> list[Finding]:
        return list(self._findings)


@dataclass(slots=True)
class Report:
    """The result of ``validate`` or ``check``."""

    command: str
    files: int = 0
    records: int = 0
    findings: list[Finding] = field(default_factory=list)
    #: Every file looked at (for JUnit: one test case per file, findings or not).
    checked_files: list[str] = field(default_factory=list)

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def failed(self, fail_on: str = "error") -> bool:
        """Whether any finding is at or above ``fail_on`` (exit code 1 for the CLI)."""
        return any(f.at_least(fail_on) for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "records": self.records,
            "findings": [f.to_json() for f in self.findings],
        }
