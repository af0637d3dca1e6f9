"""How commands print results: validate/check findings as text, JSON, JUnit XML or
GitHub workflow annotations with the exit code policy they share, and Markdown tables."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections import defaultdict
from enum import Enum
from typing import Annotated

import typer
from rich.markup import escape

from tbtool import storage
from tbtool.cli.app import EXIT_OK, EXIT_PROBLEMS, choice_option, format_option, stdout_console
from tbtool.ops.findings import SEVERITIES, Finding, Report
from tbtool.vocabulary.printable import printable


class ReportFormat(str, Enum):
    text = "text"
    json = "json"
    junit = "junit"
    github = "github"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


#: The options of the commands that print findings (validate, check).
ReportFormatOption = Annotated[ReportFormat, format_option(ReportFormat)]
FailOnOption = Annotated[
    FailOn,
    choice_option(FailOn, "--fail-on", help="Exit 1 if any finding is at least this severe."),
]


_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _counted(f: Finding) -> str:
    return f"{f.message} (x{f.count})" if f.count > 1 else f.message


def _subject(f: Finding) -> str:
    bits = []
    if f.run is not None and f.file is None:
        bits.append(f"run {f.run}")
    if f.tag:
        bits.append(f"tag {f.tag}")
    if f.step is not None:
        bits.append(f"step {f.step}")
    return f" [{', '.join(bits)}]" if bits else ""


def render_text(report: Report, *, quiet: bool = False) -> None:
    console = stdout_console()
    by_file: dict[str | None, list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_file[f.file].append(f)
    for file, findings in sorted(by_file.items(), key=lambda kv: kv[0] or ""):
        console.print(f"[bold]{escape(printable(file or '(runs)'))}[/bold]")
        for f in findings:
            where = ", ".join(
                p
                for p in (
                    f"offset {f.offset}" if f.offset is not None else "",
                    f"record {f.index}" if f.index is not None else "",
                )
                if p
            )
            where = f" ({where})" if where else ""
            console.print(
                f"  [{_STYLE[f.severity]}]{f.severity}[/] {f.code}{where}"
                f"{escape(printable(_subject(f)))}: {escape(printable(_counted(f)))}"
            )
    if quiet:
        return
    counts = ", ".join(f"{report.count(s)} {s}(s)" for s in reversed(SEVERITIES))
    unit = "record(s)" if report.command == "validate" else "value(s)"
    console.print(f"{report.command}: {report.files} file(s), {report.records} {unit}: {counts}")


def render_github(report: Report) -> None:
    """Workflow commands: ``::error file=...,title=...::message``."""
    level = {"error": "error", "warning": "warning", "info": "notice"}
    for f in report.findings:
        props = []
        if f.file:
            where = f.file if storage.is_url(f.file) else os.path.relpath(f.file)
            props.append(f"file={_gh_escape_property(where)}")
        props.append(f"title={_gh_escape_property(f'tbtool {f.code}')}")
        # Without a file, the subject already names the run: say it once.
        where = f"{f.location()}{_subject(f)}" if f.file else _subject(f).strip(" []")
        text = f"{_counted(f)} ({where})" if where else _counted(f)
        typer.echo(f"::{level[f.severity]} {','.join(props)}::{_gh_escape_data(text)}")


def _gh_escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_escape_property(s: str) -> str:
    return _gh_escape_data(s).replace(":", "%3A").replace(",", "%2C")


def junit_xml(report: Report, fail_on: str) -> str:
    """One test case per file (and one per run for findings not tied to a file); findings at
    or above ``fail_on`` are failures, the others go to system-out."""
    cases: dict[str, list[Finding]] = {path: [] for path in report.checked_files}
    for f in report.findings:
        cases.setdefault(f.file or f"run {f.run}", []).append(f)
    suite = ET.Element("testsuite", name=f"tbtool {report.command}")
    failures = 0
    for name, findings in cases.items():
        case = ET.SubElement(suite, "testcase", classname=f"tbtool.{report.command}", name=name)
        failing = [f for f in findings if f.at_least(fail_on)]
        for f in failing:
            failure = ET.SubElement(
                case, "failure", message=f"{f.code}: {_counted(f)}", type=f.code
            )
            failure.text = f"{f.severity} {f.code} at {f.location()}{_subject(f)}: {_counted(f)}"
        failures += bool(failing)
        rest = [f for f in findings if not f.at_least(fail_on)]
        if rest:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(
                f"{f.severity} {f.code} at {f.location()}{_subject(f)}: {_counted(f)}" for f in rest
            )
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def emit(report: Report, fmt: ReportFormat, fail_on: FailOn, *, quiet: bool = False) -> None:
    """Print the report (``quiet``: text without its summary line) and exit with the
    contract's code (0 clean, 1 findings)."""
    if fmt is ReportFormat.json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    elif fmt is ReportFormat.junit:
        typer.echo(junit_xml(report, fail_on.value))
    elif fmt is ReportFormat.github:
        render_github(report)
    else:
        render_text(report, quiet=quiet)
    raise typer.Exit(EXIT_PROBLEMS if report.failed(fail_on.value) else EXIT_OK)


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table (``|`` in cells escaped)."""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    numeric = [
        i for i in range(len(headers)) if rows and all(_looks_numeric(r[i]) for r in rows) and i > 0
    ]
    rule = ["---:" if i in numeric else "---" for i in range(len(headers))]
    return "\n".join([line(headers), line(rule), *(line(r) for r in rows)])


def _looks_numeric(text: str) -> bool:
    head = text.split(" @")[0].replace(":", "").rstrip("s")
    try:
        float(head)
    except ValueError:
        return text == "-"
    return True
