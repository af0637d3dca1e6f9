"""Which decoder runs is never a secret: ``tbtool --version`` and ``ls --format json`` say it,
and CI cannot pass on a machine where the C extension did not build (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import strict_skips

from tbtool.columnar import decoder

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# The CLI with the extension hidden, as on a machine that could not compile it.
_WITHOUT_C = """
import sys
sys.modules["tbtool.columnar._columnar"] = None  # importing it now fails
from tbtool.cli import main
sys.argv = ["tbtool", *sys.argv[1:]]
main()
"""


def _tbtool(*args: str, hide_c: bool = False, env: dict | None = None) -> str:
    code = (
        _WITHOUT_C
        if hide_c
        else _WITHOUT_C.replace('sys.modules["tbtool.columnar._columnar"]', "_")
    )
    command = [sys.executable, "-c", code, *args]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_c_extension_is_built():
    """Outside CI a machine without a compiler may skip; under CI=true the skip is a
    failure (tests/conftest.py), so CI fails where the extension did not build."""
    if not decoder.available():
        pytest.skip("C extension not built: install a C compiler and reinstall tbtool")
    assert decoder.describe()["decoder"] == "c" or decoder.describe()["why"].startswith(
        decoder.PURE_PYTHON_ENV
    )


def test_ci_runs_with_the_extension():
    """.ci/run checks the build before the tests (a skip alone would be one line among many)."""
    script = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "decoder.available()" in script
    if strict_skips():
        assert decoder.available()


@pytest.mark.skipif(not decoder.available(), reason="C extension not built")
def test_version_names_the_decoder(monkeypatch):
    monkeypatch.delenv("TBTOOL_PURE_PYTHON", raising=False)
    out = _tbtool("--version")
    assert out.splitlines()[1].startswith("decoder: C extension (CRC-32C: ")
    env = {**os.environ, "TBTOOL_PURE_PYTHON": "1"}
    out = _tbtool("--version", env=env)
    assert out.splitlines()[1] == (
        "decoder: pure Python (TBTOOL_PURE_PYTHON=1 is set; reading is about 10x slower)"
    )


def test_version_without_the_extension_says_so():
    out = _tbtool("--version", hide_c=True)
    assert (
        "pure Python (the C extension tbtool.columnar._columnar is not built" in out.splitlines()[1]
    )


def test_ls_json_names_the_decoder():
    logdir = str(FIXTURES / "torch_all" / "logdir")
    hidden = json.loads(_tbtool("ls", logdir, "--format", "json", hide_c=True))["reader"]
    assert hidden["decoder"] == "python" and "not built" in hidden["why"]
    if decoder.available():
        env = {k: v for k, v in os.environ.items() if k != "TBTOOL_PURE_PYTHON"}
        shown = json.loads(_tbtool("ls", logdir, "--format", "json", env=env))["reader"]
        assert shown["decoder"] == "c" and shown["crc32c"] in ("sse4.2", "armv8", "software")
