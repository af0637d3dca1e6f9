"""Whole ``tbtool`` commands as a user runs them: start-up, reading, output, exit.

Every reading command should cost about what ``export`` costs on the same data (issue 15:
``ls``, ``check --no-nan`` and ``dump > /dev/null`` at most 1.5x, ``merge`` and ``purge`` at
most 2x), so the harness times each command in its own process, side by side with
``export`` of the same logdir, and reports the ratio. Commands that rewrite get a fresh copy
of the logdir (copying is not timed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Name -> arguments after ``tbtool``; ``{in}`` is the logdir (or its fresh copy), ``{out}``
#: a new path in a scratch directory.
COMMANDS: dict[str, list[str]] = {
    "export": ["export", "{in}", "-o", "{out}.parquet", "-q"],
    "ls": ["ls", "{in}"],
    "check --no-nan": ["check", "{in}", "--no-nan"],
    "dump > /dev/null": ["dump", "{in}"],
    "validate": ["validate", "{in}"],
    "merge -o": ["merge", "{in}", "-o", "{out}"],
    "purge --step": ["purge", "{in}", "--step", "{step}", "--yes", "--no-backup"],
}
#: Commands that change their input: they run on a copy.
REWRITES = ("purge --step",)


def tbtool_executable() -> str:
    """The ``tbtool`` script installed beside the running interpreter."""
    found = Path(sys.executable).with_name("tbtool")
    return str(found) if found.exists() else shutil.which("tbtool") or "tbtool"


def command_task(name: str, path: str, step: int = 0) -> dict:
    """Harness task (:mod:`benchmarks.measure`): wall seconds of ``tbtool <command>`` on
    ``path``, output to /dev/null."""
    with tempfile.TemporaryDirectory(prefix="tbtool-bench-cmd-") as scratch:
        target = path
        if name in REWRITES:
            target = os.path.join(scratch, "copy")
            shutil.copytree(path, target)
        argv = [
            arg.format(**{"in": target, "out": os.path.join(scratch, "out"), "step": step})
            for arg in COMMANDS[name]
        ]
        start = time.perf_counter()
        proc = subprocess.run(
            [tbtool_executable(), *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"tbtool {' '.join(argv)}: exit {proc.returncode}: {proc.stderr[-300:]}")
    return {"seconds": seconds, "exit": proc.returncode}
