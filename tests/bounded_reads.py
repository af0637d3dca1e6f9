"""Every reading command and reader on one PATH, in one process under a memory limit.

Run as ``python tests/bounded_reads.py PATH BUDGET OUT``: imports what the commands need
(reading a small good file of its own), then, before anything reads PATH, caps the process's
address space at what it has mapped plus ``BUDGET`` bytes, so a decode that allocates from
a size or count read from the file fails at once (MemoryError) instead of exhausting the
machine. Runs each command through the CLI (in process), the
DataFrame readers with both engines, ``LogReader.values`` and tbparse's drop-in, and prints
one JSON object: per CLI command its exit code, stdout and stderr; per library call ``"ok"``
or the error; for tbparse's images and audio the types of the cells (arrays or the encoded
``bytes``). ``validate``, ``dump`` and ``export`` also run with the pure-Python decoder
(``TBTOOL_PURE_PYTHON=1``; names ending in ``/py``), for comparing the two decoders.
Used by tests/test_decode_limits.py.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas  # noqa: F401  (imported before the limit: only decoding should count)
import pyarrow.parquet  # noqa: F401
from typer.testing import CliRunner

import tbtool
from tbtool.cli import app
from tbtool.compat.tbparse import ALL_EVENT_TYPES, SummaryReader
from tbtool.format.record import RecordWriter
from tbtool.proto import event_pb2, summary_pb2

KINDS = ("scalars", "histograms", "text", "images", "audio", "tensors", "pr_curves", "hparams")


def mapped_bytes() -> int:
    """The address space this process has mapped now (VmSize)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def commands(path: str, out: Path) -> dict[str, list[str]]:
    jsonl = str(out / "jsonl")
    return {
        "validate": ["validate", path, "--format", "json"],
        "ls": ["ls", path],
        "ls-json": ["ls", path, "--format", "json"],
        "dump": ["dump", path],
        "dump-jsonl": ["dump", path, "--format", "jsonl"],
        "dump-raw": ["dump", path, "--raw"],
        "check": ["check", path, "--no-nan"],
        "export": ["export", path, "--kind", "all", "-o", str(out / "parquet")],
        "export-jsonl": ["export", path, "--kind", "all", "--format", "jsonl", "-o", jsonl],
        "export-tensors": ["export", path, "--kind", "tensors", "--format", "jsonl", "-o", "-"],
        "summary": ["summary", path],
    }


def library_calls(path: str) -> dict[str, Callable[[], Any]]:
    calls: dict[str, Callable[[], Any]] = {
        f"read_{kind}/{engine}": (
            lambda kind=kind, engine=engine: getattr(tbtool, f"read_{kind}")(path, engine=engine)
        )
        for kind in KINDS
        for engine in ("batch", "events")
        if not (kind == "hparams" and engine == "events")
    }
    calls["LogReader.values"] = lambda: list(tbtool.LogReader(path).values())
    for pivot in (False, True):
        for kind in sorted(ALL_EVENT_TYPES):
            calls[f"tbparse.{kind}{'/pivot' if pivot else ''}"] = lambda kind=kind, pivot=pivot: (
                getattr(SummaryReader(path, pivot=pivot, event_types=set(ALL_EVENT_TYPES)), kind)
            )
    return calls


def warm_up(runner: CliRunner, out: Path) -> None:
    """Import what reading needs by reading a small good file (not PATH: nothing from it
    may run before the limit)."""
    path = out / "warm-up" / "events.out.tfevents.1700000000.warm-up"
    path.parent.mkdir(parents=True)
    with RecordWriter(path) as w:
        w.write(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())
        value = summary_pb2.Summary.Value(tag="loss", simple_value=0.5)
        summary = summary_pb2.Summary(value=[value])
        w.write(event_pb2.Event(wall_time=2.0, step=1, summary=summary).SerializeToString())
    for args in commands(str(path.parent), out / "warm-up").values():
        runner.invoke(app, args)


def main() -> None:
    path, budget, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    runner = CliRunner()
    warm_up(runner, out)
    limit = mapped_bytes() + budget
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    result: dict[str, Any] = {"cli": {}, "lib": {}}
    for name, args in commands(path, out).items():
        for pure in ("0", "1") if name in ("validate", "dump-jsonl", "export-tensors") else ("0",):
            os.environ["TBTOOL_PURE_PYTHON"] = pure
            run = runner.invoke(app, args)
            crashed = run.exception if not isinstance(run.exception, SystemExit) else None
            result["cli"][name + ("/py" if pure == "1" else "")] = {
                "exit": run.exit_code,
                "stdout": run.stdout,
                "stderr": run.stderr + (f"escaped: {crashed!r}" if crashed else ""),
            }
    os.environ["TBTOOL_PURE_PYTHON"] = "0"
    result["media"] = {}
    for name, call in library_calls(path).items():
        try:
            got = call()
            result["lib"][name] = "ok"
        except Exception as e:  # every error is reported (none may happen)
            result["lib"][name] = f"{type(e).__name__}: {e}"
            continue
        if name in ("tbparse.images", "tbparse.audio") and len(got):
            result["media"][name] = sorted({type(v).__name__ for v in got["value"]})
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
