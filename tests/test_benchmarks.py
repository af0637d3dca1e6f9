"""The benchmark harness runs end to end on tiny data and writes its report (never timings:
the numbers are for docs/performance.md, not for assertions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import __main__ as harness
from benchmarks import data
from benchmarks.measure import measure


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Quick sizes shrunk further, data cached in this test's own directory."""
    monkeypatch.setattr(data, "CACHE", tmp_path / "cache")
    sizes = harness.Sizes(**{**harness.asdict(harness.QUICK), "scalars": 2000, "big": "12MB"})
    monkeypatch.setattr(harness, "QUICK", sizes)
    return tmp_path / "out"


def test_quick_run_writes_the_table(tiny: Path) -> None:
    harness.main(["--quick", "--only", "scalars", "--out", str(tiny)])
    report = (tiny / "report.md").read_text()
    results = json.loads((tiny / "results.json").read_text())
    tools = {row["tool"] for row in results["rows"]}
    assert {"tbtool", "tbparse", "accumulator", "rustboard", "floor"} <= tools
    for row in results["rows"]:
        assert "error" not in row and "timed_out" not in row, row
    reads = [r for r in results["rows"] if r["task"] == "read scalars"]
    assert {r["rows"] for r in reads} == {2000}  # every reader saw every value
    assert "| read 1M scalars to a DataFrame: tbparse's time / tbtool's | >= 10x |" in report
    assert "| scalars | read scalars | tbparse |" in report
    assert "## Targets (issue 16)" in report
    assert "| 1M scalars to a DataFrame: tbtool's time / the read+CRC floor's | <= 6x |" in report
    ours = next(r for r in reads if r["tool"] == "tbtool")
    assert ours["frame_mb"] > 0 and ours["rss_before_mb"] > 0  # the memory target's inputs
    assert results["machine"]["usable cores"] >= 1


def test_a_failing_task_is_reported_not_raised() -> None:
    result = measure("read", {"tool": "no-such-tool", "path": "."})
    assert "error" in result and "no-such-tool" in result["error"]


def test_interleaved_rounds_give_a_ratio_with_its_spread(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import interleaved

    assert interleaved.main(["images", "--quick", "--rounds", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out[:2]] == ["round 0", "round 1"]
    assert out[-1].startswith("rustboard / tbtool: ") and "2 rounds" in out[-1]
    ratio = float(out[-1].split(": ")[1].split("x")[0])
    assert ratio > 0
