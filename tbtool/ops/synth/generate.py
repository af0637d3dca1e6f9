"""synth: write synthetic TensorBoard logdirs for demos, tests and benchmarks.

``synth(out, seed=0, runs=3, ...)`` writes ``runs`` runs of a pretend training job in one
writer's encodings (torch, tensorboardX or TF2), deterministically: the same options give
byte-identical files with identical names. Options add a crashed and resumed run
(``restart_at``), injected faults with a known ``validate`` finding each (``corrupt``), or
reach a target size fast (``size``; scalars are then written in bulk at hundreds of MB/s).
docs/synth.md describes the output.

Modules: ``synth_shapes`` (the numbers), ``synth_styles`` (each writer's encodings),
``synth_run`` (one run's files), ``synth_bulk`` (fast scalar records), ``synth_faults``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tbtool._version import __version__
from tbtool.errors import UsageError
from tbtool.ops.synth import shapes
from tbtool.ops.synth.bulk import BulkScalars, varint_width, width_bands
from tbtool.ops.synth.faults import FAULTS, check_faults
from tbtool.ops.synth.run import InjectedFault, RunOutcome, RunSpec, RunWriter
from tbtool.ops.synth.styles import ALL_KINDS, STYLES
from tbtool.vocabulary.byte_size import parse_size
from tbtool.vocabulary.kinds import kind_names

#: Written first into every logdir synth makes; ``overwrite`` replaces only such logdirs.
MARKER = ".tbtool-synth.json"
DEFAULT_KINDS = ("scalars", "histograms", "images", "text", "hparams")
DEFAULT_RUNS, DEFAULT_TAGS, DEFAULT_STEPS = 3, 4, 1000
#: 2023-11-14 22:13:20 UTC: the default wall time of the first run's first event.
DEFAULT_START = 1_700_000_000.0
#: Steps a file needs for a fault to have steps before and after it.
MIN_FAULT_STEPS = 4
#: Seconds between the starts of consecutive runs.
RUN_SPACING = 900.0


@dataclass
class SynthResult:
    """What ``synth`` wrote: runs (files, per-tag counts), injected faults, bytes, speed."""

    out: str
    seed: int
    style: str
    kinds: list[str]
    steps: int
    runs: list[RunOutcome]
    faults: list[InjectedFault]
    restarted: str | None  # the run that crashed and resumed
    restart_at: int | None = None  # the step it resumed from (the START event's step)
    crashed_at: int | None = None  # the last step of its crashed attempt
    seconds: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def files(self) -> list[str]:
        return [f.path for run in self.runs for f in run.files]

    @property
    def bytes(self) -> int:
        """Bytes of all event files written."""
        return sum(f.size for run in self.runs for f in run.files)

    @property
    def records(self) -> int:
        return sum(f.records for run in self.runs for f in run.files)

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def expected_findings(self) -> list[tuple[str, str | None]]:
        """(code, run) of every finding ``validate`` reports on this logdir: one ``restart``
        (info) for the restarted run and one per injected fault; nothing else."""
        expected = [("restart", self.restarted)] if self.restarted else []
        renamed = {f.run for f in self.faults if f.fault == "bad-name"}
        if self.restarted in renamed:  # its resumed file, with the START, is not read
            expected = []
        # A file no reader takes as an event file belongs to no run.
        return expected + [(f.code, None if f.fault == "bad-name" else f.run) for f in self.faults]

    def to_json(self) -> dict[str, Any]:
        def rel(path: str) -> str:
            return os.path.relpath(path, self.out).replace(os.sep, "/")

        return {
            "out": self.out,
            "options": self.options,
            "runs": [
                {
                    "name": run.name,
                    "hparams": run.hparams,
                    "last_step": run.last_step,
                    "files": [
                        {"path": rel(f.path), "size": f.size, "records": f.records}
                        for f in run.files
                    ],
                    "tags": {
                        tag: {
                            "kind": s.kind,
                            "written": s.written,
                            "kept": s.kept,
                            "first_step": s.first_step,
                            "last_step": s.last_step,
                        }
                        for tag, s in sorted(run.series.items())
                    },
                }
                for run in self.runs
            ],
            "restart": (
                {"run": self.restarted, "step": self.restart_at, "crashed_at": self.crashed_at}
                if self.restarted
                else None
            ),
            "faults": [{**f.to_json(), "file": rel(f.file)} for f in self.faults],
            "expected_findings": [{"code": c, "run": r} for c, r in self.expected_findings()],
            "files": len(self.files),
            "records": self.records,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 4),
            "mb_per_s": round(self.mb_per_s, 1),
        }


def parse_kinds(kinds: str | Sequence[str], style: str) -> list[str]:
    """``"scalars,images"``, a list, or ``"all"`` (every kind the style writes), each kind
    singular or plural, in the canonical order; :class:`UsageError` for unknown kinds or
    kinds the style lacks."""
    names = [k.strip() for k in (kinds.split(",") if isinstance(kinds, str) else kinds)]
    names = kind_names([k for k in names if k], [*ALL_KINDS, "all"])
    supported = STYLES[style].kinds
    if "all" in names:
        return [k for k in ALL_KINDS if k in supported]
    if not names:
        raise UsageError("--kind: name at least one kind")
    for name in names:
        if name not in supported:
            raise UsageError(f"--kind: the {style} style has no {name} (its writer lacks it)")
    return [k for k in ALL_KINDS if k in names]


def _restart_step(restart_at: int | str | None, steps: int) -> int | None:
    if restart_at is None:
        return None
    text = str(restart_at).strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)%", text)
    if match:
        step = int(steps * float(match.group(1)) / 100)
    elif re.fullmatch(r"\d+", text):
        step = int(text)
    else:
        raise UsageError(f"--restart-at: {restart_at!r} is not a step or a percentage like 50%")
    if not 1 <= step < steps:
        raise UsageError(
            f"--restart-at: the restart step must be in [1, {steps - 1}] (the run has "
            f"{steps} steps), got {step}"
        )
    return step


def _crash_step(restart: int, steps: int) -> int:
    """The crashed attempt got a quarter of the remaining way past its last checkpoint."""
    return min(steps - 1, restart + max(1, (steps - restart) // 4))


def plan_size(
    target: int, style: str, tags: list[str], runs: int, restart_at: int | str | None
) -> tuple[int, list[int]]:
    """(steps, byte budget of each run) for event files totalling ``target`` bytes: the
    fewest steps whose scalar records reach it, shared out in proportion to each run's
    records (the restarted run writes some steps twice). Other kinds are not counted here;
    each run stops its scalars early by what they took (``synth_run``)."""
    bulk = BulkScalars([STYLES[style].scalar_parts(t) for t in tags])
    all_tags = list(range(len(tags)))

    def span(first: int, stop: int) -> int:
        return sum(
            (b - a) * bulk.step_size(varint_width(a), all_tags) for a, b in width_bands(first, stop)
        )

    def shares(n: int) -> list[int]:
        plain = span(0, n)
        try:
            restart = _restart_step(restart_at, n)
        except UsageError:  # not a valid restart for this many steps
            restart = None
        if restart is None:
            return [plain] * runs
        crash = _crash_step(restart, n)
        return [span(0, crash + 1) + span(restart, n)] + [plain] * (runs - 1)

    low, high = 1, 2
    while sum(shares(high)) < target:
        low, high = high, high * 2
    while low < high:
        mid = (low + high) // 2
        if sum(shares(mid)) >= target:
            high = mid
        else:
            low = mid + 1
    parts = shares(low)
    total = sum(parts)
    return low, [max(1, target * part // total) for part in parts]


def _params(seed: int, run: int) -> shapes.RunParams:
    return shapes.RunParams.draw(np.random.default_rng([int(seed), run, 0, 0]))


def _prepare(out: str, overwrite: bool) -> None:
    """Make ``out`` an empty directory, refusing to delete anything synth did not write."""
    if "://" in out:
        raise UsageError(f"{out}: tbtool synth writes local directories only")
    if os.path.lexists(out) and not os.path.isdir(out):
        raise UsageError(f"{out} exists and is not a directory")
    if not os.path.isdir(out):
        os.makedirs(out)
        return
    entries = os.listdir(out)
    if not entries:
        return
    if not overwrite:
        raise UsageError(
            f"{out} is not empty; write into a new or empty directory, or add --overwrite to "
            "replace a logdir tbtool synth wrote there before"
        )
    if MARKER not in entries:
        raise UsageError(
            f"{out} holds files tbtool synth did not write (it has no {MARKER}); --overwrite "
            "only replaces earlier synth output, so remove them yourself"
        )
    for entry in os.scandir(out):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


def synth(
    out: str | os.PathLike,
    *,
    seed: int = 0,
    runs: int = DEFAULT_RUNS,
    tags: int = DEFAULT_TAGS,
    steps: int | None = None,
    kinds: str | Sequence[str] = DEFAULT_KINDS,
    style: str = "torch",
    restart_at: int | str | None = None,
    corrupt: Sequence[str] = (),
    size: int | str | None = None,
    start: float = DEFAULT_START,
    overwrite: bool = False,
) -> SynthResult:
    """Write a synthetic logdir into ``out`` (a new or empty directory; with ``overwrite``
    also one synth wrote before) and describe it.

    ``steps`` (default 1000) or ``size`` (bytes of event files, e.g. ``"500MB"``: the step
    count is chosen to reach it); ``restart_at``: a step or ``"NN%"`` where the first run
    resumes after crashing further on; ``corrupt``: fault names (``synth_faults.FAULTS``),
    the i-th into the i-th run; ``start``: wall time of the first event.
    """
    out = os.fspath(out)
    began = time.perf_counter()
    if style not in STYLES:
        raise UsageError(f"--style: unknown style {style!r}; choose from {', '.join(STYLES)}")
    kind_list = parse_kinds(kinds, style)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {seed!r}")
    for name, value in (("--num-runs", runs), ("--num-tags", tags)):
        if value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")
    if steps is not None and size is not None:
        raise UsageError("give --num-steps or --size, not both (--size chooses the step count)")
    if steps is not None and steps < 1:
        raise UsageError(f"--num-steps must be at least 1, got {steps}")
    if not np.isfinite(start) or start < 0:
        raise UsageError(f"--start must be a time after 1970, got {start}")
    faults = check_faults(list(corrupt), set(kind_list), style, runs)
    scalar_tags = shapes.scalar_tags(tags)
    budgets: list[int | None] = [None] * runs
    if size is not None:
        target = parse_size(size, "--size")
        if "scalars" not in kind_list:
            raise UsageError("--size needs scalars in --kind (they make up the bulk)")
        if target < 1:
            raise UsageError("--size must be at least 1 byte")
        # Plan with scalars alone, see what the other kinds take over that many steps, plan
        # again without it (twice: their cadence depends on the step count).
        steps, shares = plan_size(target, style, scalar_tags, runs, restart_at)
        for _ in range(2):
            probe = RunSpec(0, "probe", _params(seed, 0), start, steps, None, None, True)
            other = RunWriter(
                out, probe, STYLES[style], set(kind_list), scalar_tags,
                shapes.histogram_tags(tags), int(seed),
            ).other_bytes()  # fmt: skip
            if other * runs >= target:
                raise UsageError(
                    f"--size: {target:,} bytes is less than the {other * runs:,} that the "
                    "kinds other than scalars take; ask for more, or for fewer --num-runs or --kind"
                )
            steps, shares = plan_size(target - other * runs, style, scalar_tags, runs, restart_at)
        budgets = [share + other for share in shares]
    steps = DEFAULT_STEPS if steps is None else int(steps)
    restart = _restart_step(restart_at, steps)
    if faults and steps < MIN_FAULT_STEPS:
        raise UsageError(f"--corrupt needs at least {MIN_FAULT_STEPS} steps, got {steps}")
    if faults and restart is not None and steps - restart < MIN_FAULT_STEPS:
        raise UsageError(
            f"--corrupt: the first run's resumed file, where its fault goes, would hold only "
            f"{steps - restart} step(s); restart at step {steps - MIN_FAULT_STEPS} or earlier"
        )

    options = {
        "seed": int(seed),
        "runs": runs,
        "tags": tags,
        "steps": steps,
        "kinds": kind_list,
        "style": style,
        "restart_at": restart,
        "corrupt": list(corrupt),
        "size": None if size is None else parse_size(size, "--size"),
        "start": start,
        "tbtool": __version__,
    }
    _prepare(out, overwrite)
    with open(os.path.join(out, MARKER), "w") as f:
        json.dump({"generator": "tbtool synth", "options": options}, f, indent=1, sort_keys=True)
        f.write("\n")

    outcomes = []
    for index in range(runs):
        params = _params(seed, index)
        restarted = restart is not None and index == 0
        spec = RunSpec(
            index=index,
            name=f"run{index}-{params.optimizer}-lr{params.learning_rate:g}",
            params=params,
            start_wall=start + index * RUN_SPACING,
            horizon=steps,
            restart_at=restart if restarted else None,
            crash_at=_crash_step(restart, steps) if restarted and restart is not None else None,
            first_run=index == 0,
            faults=faults[index : index + 1],
            budget=budgets[index],
        )
        writer = RunWriter(
            out,
            spec,
            STYLES[style],
            set(kind_list),
            scalar_tags,
            shapes.histogram_tags(tags),
            int(seed),
        )
        outcomes.append(writer.write())
    result = SynthResult(
        out=out,
        seed=int(seed),
        style=style,
        kinds=kind_list,
        steps=steps,
        runs=outcomes,
        faults=[f for run in outcomes for f in run.faults],
        restarted=outcomes[0].name if restart is not None else None,
        restart_at=restart,
        crashed_at=_crash_step(restart, steps) if restart is not None else None,
        options=options,
    )
    result.seconds = time.perf_counter() - began
    return result


__all__ = ["FAULTS", "MARKER", "SynthResult", "parse_kinds", "synth"]
