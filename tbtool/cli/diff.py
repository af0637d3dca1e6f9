"""``tbtool diff A B``: what differs between two runs or logdirs, as text, JSON or Markdown;
exit 1 when anything differs (a skin over :func:`tbtool.ops.diff.diff`)."""

from __future__ import annotations

import json
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tbtool.cli.app import (
    EXIT_OK,
    EXIT_PROBLEMS,
    NoPurgeOption,
    QuietOption,
    RunOption,
    SkipCorruptOption,
    StepsOption,
    TagOption,
    command,
    format_option,
    report_damage,
    reported_errors,
)
from tbtool.cli.progress import progress_display
from tbtool.cli.report import markdown_table

if TYPE_CHECKING:
    from tbtool.ops.diff import DiffResult, RunDiff, SeriesStats, TagDiff


class DiffFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


def _num(x: Any) -> str:
    from tbtool.ops.summary import format_number

    return format_number(x)


def _coverage(side: SeriesStats | tuple[int, int, int]) -> str:
    if isinstance(side, tuple):
        count, lo, hi = side
    else:
        count, lo, hi = side.count, side.min_step, side.max_step
    return f"{lo}..{hi} ({count})"


def _at(value: float, step: int | None) -> str:
    return _num(value) + (f" @{step}" if step is not None else "")


def _verdict(tag: TagDiff) -> str:
    if tag.divergence is not None:
        step, a, b = tag.divergence
        return f"diverges at step {step} (A {_num(a)}, B {_num(b)})"
    if tag.differs:
        return "steps differ"
    return f"same ({_coverage(tag.a)})"


def _run_lines(pair: RunDiff) -> list[str]:
    lines = [f"run {pair.a} vs {pair.b}: {'differs' if pair.differs else 'same'}"]
    if pair.hparams:
        changes = ", ".join(f"{n} {_num(a)} -> {_num(b)}" for n, a, b in pair.hparams)
        lines.append(f"  hparams: {changes}")
    for label, tags in (("only in A", pair.only_a), ("only in B", pair.only_b)):
        if tags:
            lines.append(f"  {label}: " + ", ".join(f"{k} {t}" for k, t in tags))
    for tag in pair.tags:
        name = tag.tag if tag.kind == "scalar" else f"{tag.kind} {tag.tag}"
        lines.append(f"  {name}: {_verdict(tag)}")
        if not tag.differs:
            continue
        rows = [("", "A", "B", "B - A"), ("steps", _coverage(tag.a), _coverage(tag.b), "")]
        a, b = tag.a, tag.b
        if not isinstance(a, tuple) and not isinstance(b, tuple):
            rows += [
                ("last", _num(a.last), _num(b.last), _num(b.last - a.last)),
                ("min", _at(a.min, a.min_step_at), _at(b.min, b.min_step_at), _num(b.min - a.min)),
                ("max", _at(a.max, a.max_step_at), _at(b.max, b.max_step_at), _num(b.max - a.max)),
            ]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for r in rows:
            cells = [r[i].ljust(widths[i]) for i in range(3)] + [r[3]]
            lines.append(("    " + "   ".join(cells)).rstrip())
    return lines


def render_text(result: DiffResult) -> str:
    lines = [
        f"A: {result.a}",
        f"B: {result.b}",
        f"close: |B - A| <= {result.atol:g} + {result.rtol:g} * |A|",
    ]
    for label, runs in (
        ("runs only in A", result.runs_only_a),
        ("runs only in B", result.runs_only_b),
    ):
        if runs:
            lines.append(f"{label}: {', '.join(runs)}")
    for pair in result.runs:
        lines += _run_lines(pair)
    lines.append(_totals(result))
    return "\n".join(lines)


def _totals(result: DiffResult) -> str:
    tags = [t for pair in result.runs for t in pair.tags]
    differing = sum(t.differs for t in tags)
    one_side = sum(len(p.only_a) + len(p.only_b) for p in result.runs)
    runs_one_side = len(result.runs_only_a) + len(result.runs_only_b)
    verdict = "differs" if result.differs else "same"
    return (
        f"diff: {verdict}: {len(result.runs)} run pair(s), {differing} of {len(tags)} common "
        f"tag(s) differ, {one_side} tag(s) and {runs_one_side} run(s) on one side only"
    )


def render_markdown(result: DiffResult) -> str:
    verdict = "differs" if result.differs else "no differences"
    out = [
        f"### tbtool diff: {verdict}",
        "",
        f"A `{result.a}`, B `{result.b}`; close when |B - A| <= {result.atol:g} + "
        f"{result.rtol:g} * |A|.",
    ]
    for label, runs in (
        ("Runs only in A", result.runs_only_a),
        ("Runs only in B", result.runs_only_b),
    ):
        if runs:
            out += ["", f"{label}: " + ", ".join(f"`{r}`" for r in runs)]
    headers = ["tag", "steps A", "steps B", "last A", "last B", "Δ last", "min A", "min B"]
    headers += ["max A", "max B", "first divergence"]
    for pair in result.runs:
        out += ["", f"**{pair.a} vs {pair.b}**: {'differs' if pair.differs else 'same'}"]
        if pair.hparams:
            out.append(
                "hparams: " + ", ".join(f"`{n}` {_num(a)} → {_num(b)}" for n, a, b in pair.hparams)
            )
        for label, tags in (("only in A", pair.only_a), ("only in B", pair.only_b)):
            if tags:
                out.append(f"{label}: " + ", ".join(f"{k} `{t}`" for k, t in tags))
        rows = []
        for tag in pair.tags:
            a, b = tag.a, tag.b
            stats: list[str] = ["", "", "", "", "", "", ""]
            if not isinstance(a, tuple) and not isinstance(b, tuple):
                stats = [
                    _num(a.last), _num(b.last), _num(b.last - a.last),
                    _at(a.min, a.min_step_at), _at(b.min, b.min_step_at),
                    _at(a.max, a.max_step_at), _at(b.max, b.max_step_at),
                ]  # fmt: skip
            first = "-" if tag.divergence is None else f"step {tag.divergence[0]}"
            name = tag.tag if tag.kind == "scalar" else f"{tag.kind} {tag.tag}"
            mark = "**" if tag.differs else ""
            rows.append([f"{mark}{name}{mark}", _coverage(a), _coverage(b), *stats, first])
        if rows:
            out += ["", markdown_table(headers, rows)]
    return "\n".join(out)


@command(
    "diff",
    examples=[
        "tbtool diff demo/run0-sgd-lr0.003 demo/run2-sgd-lr0.0001 --tag 'loss/*'",
        "tbtool diff demo demo --rtol 1e-3 --format markdown",
    ],
)
def diff_command(
    a: Annotated[
        str, typer.Argument(help="The reference: a run, logdir or event file.", metavar="A")
    ],
    b: Annotated[str, typer.Argument(help="What to compare with it.", metavar="B")],
    rtol: Annotated[
        float,
        typer.Option("--rtol", help="Relative tolerance (of |A|).", metavar="TOL", min=0.0),
    ] = 1e-5,
    atol: Annotated[
        float, typer.Option("--atol", help="Absolute tolerance.", metavar="TOL", min=0.0)
    ] = 1e-8,
    format: Annotated[DiffFormat, format_option(DiffFormat)] = DiffFormat.text,
    run: RunOption = [],  # noqa: B006 - typer needs a literal default
    tag: TagOption = [],  # noqa: B006
    steps: StepsOption = None,
    quiet: QuietOption = False,
    no_purge: NoPurgeOption = False,
    skip_corrupt: SkipCorruptOption = False,
) -> None:
    """Two runs, or two logdirs with runs matched by name: tags on one side only, hparams,
    and per scalar tag steps, last/min/max and the first step where values diverge. Exits 1
    when anything differs beyond --rtol/--atol."""
    from tbtool.ops.diff import diff
    from tbtool.runs.damage import damaged_files

    with reported_errors():
        with progress_display("reading", enabled=not quiet) as progress:
            result = diff(
                a, b, rtol=rtol, atol=atol, runs=run, tags=tag, steps=steps,
                purge=not no_purge, skip_corrupt=True, progress=progress,
            )  # fmt: skip
        if format is DiffFormat.json:
            typer.echo(json.dumps(result.to_json(), indent=2))
        elif format is DiffFormat.markdown:
            typer.echo(render_markdown(result))
        else:
            typer.echo(render_text(result))
        # The comparison of what could be read is shown; damage still decides the exit code.
        report_damage(damaged_files(result.problems), skip_corrupt=skip_corrupt)
    raise typer.Exit(EXIT_PROBLEMS if result.differs else EXIT_OK)
