"""Suite-wide rules.

Under ``CI=true`` a skipped test is a failure, except for the few skips that describe the
machine rather than a missing test dependency (:data:`MACHINE_SKIPS`): a declared test
dependency (a server, the browser, the C extension, rustboard, an importable package) that
is missing or broken must stop the run, not vanish into a skip count. Outside CI, skips stay
skips (a laptop without the emulator can still run the rest), and ``-rs`` lists them.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["pytester"]

#: Skip reasons (substrings) that are facts about the machine, allowed under CI=true.
MACHINE_SKIPS = (
    "no CUDA device",  # no GPU on the CI machines
    "root ignores file permissions",  # CI may run as root
    "No module named 'jax'",  # jax is not a test dependency (too large); tested by hand
    "gcp-storage-emulator drops the last byte",  # a known emulator bug, named in the test
)


def strict_skips() -> bool:
    """Does this run treat skips as failures (``CI`` set to true/1/yes)?"""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _reason(report: pytest.BaseReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_skip(report: pytest.BaseReport) -> None:
    if not strict_skips() or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _reason(report)
    if any(allowed in reason for allowed in MACHINE_SKIPS):
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped under CI=true: {reason}\n"
        "a declared test dependency is missing or broken; install or fix it (tests/conftest.py)"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> object:
    outcome = yield
    _fail_skip(outcome.get_result())
