"""Under CI=true a skip fails the run (tests/conftest.py); machine facts may still skip."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")

SAMPLE = """
import pytest

missing = pytest.importorskip("a_package_that_is_not_installed")
"""

RUNTIME = """
import pytest

def test_server():
    pytest.skip("no GCS emulator: connection refused")

def test_gpu():
    pytest.skip("no CUDA device")

def test_ok():
    assert True
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copy(CONFTEST, pytester.path / "conftest.py")
    pytester.makepyfile(test_missing=SAMPLE, test_runtime=RUNTIME)
    return pytester


def test_skips_fail_under_ci(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest("-p", "no:cacheprovider", "--continue-on-collection-errors")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1  # the server skip
    assert outcomes.get("errors") == 1  # the module that could not import its dependency
    assert outcomes.get("skipped") == 1  # the machine fact
    assert outcomes.get("passed") == 1
    result.stdout.fnmatch_lines(["*skipped under CI=true:*no GCS emulator*"])


def test_skips_stay_skips_outside_ci(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    outcomes = suite.runpytest("-p", "no:cacheprovider").parseoutcomes()
    assert outcomes.get("skipped") == 3
    assert outcomes.get("passed") == 1
    assert "failed" not in outcomes
