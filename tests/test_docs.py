"""The docs cannot rot: the CLI reference is regenerated from the code and compared."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_set_up_builds_the_extension_where_python_finds_it():
    # Python started in the clone imports ./tbtool before the installed package: only an
    # editable install builds the C extension there, so both copies decode alike (issue 18).
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set up")[1].split("```sh")[1].split("```")[0]
    installs = [line for line in setup.splitlines() if "pip install" in line]
    assert len(installs) == 2
    assert all(re.search(r"pip install (-q )?-e ", line) for line in installs), installs
