"""The synth logdirs the batch-path and rewrite tests share: every style with every kind and
a restart, and one run per fault (restarts, damage, NaN, duplicate steps)."""

from __future__ import annotations

from pathlib import Path

from tbtool.ops.synth.generate import synth

FAULTS = ["bitflip", "length", "truncate", "garbage", "nan", "duplicate-step"]


def make_synth_cases(root: Path) -> list[Path]:
    """Write the logdirs under ``root`` (new directories) and return them."""
    made = []
    for style in ("torch", "tensorboardx", "tf2"):
        out = root / style
        synth(out, style=style, kinds="all", steps=90, runs=2, restart_at="50%")
        made.append(out)
    faults = root / "faults"
    synth(faults, kinds="all", steps=60, runs=len(FAULTS), restart_at=25, corrupt=FAULTS)
    made.append(faults)
    return made
