"""Every command and Python block shown in README.md and docs/*.md runs, and prints what the
docs say it prints (conventions: scripts/run_doc_examples.py)."""

from __future__ import annotations

import contextlib
import importlib.util
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "run_doc_examples.py"
_spec = importlib.util.spec_from_file_location("run_doc_examples", SCRIPT)
assert _spec is not None and _spec.loader is not None
examples = importlib.util.module_from_spec(_spec)
sys.modules["run_doc_examples"] = examples  # dataclasses look their module up
_spec.loader.exec_module(examples)

# Blocks the test cannot run (they need a bucket, a CI service, a fresh virtualenv...). Each
# says why in its marker; keep them few.
MAX_NOT_RUN = 20

# Pages another change is writing; links to them may exist before they do.
PENDING_PAGES = {"performance.md", "docs/performance.md"}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("docs-base")
    examples.prepare(base)
    return base


@contextlib.contextmanager
def page_environment(page: Path, cwd: Path) -> Iterator[None]:
    """What a page needs besides its working directory: docs/remote.md a local S3 server
    whose `bucket` holds `demo` and a resumed run (its blocks say `needs: $AWS_ENDPOINT_URL`)."""
    if page.name != "remote.md":
        yield
        return
    from s3_server import moto_s3

    from tbtool import storage
    from tbtool.ops.synth.generate import synth

    synth(cwd / "resumed", runs=1, steps=20, kinds="scalars", restart_at=10)
    with moto_s3():
        fs, _ = storage.filesystem("s3://bucket")
        fs.mkdir("bucket")
        for name in ("demo", "resumed"):
            fs.put(str(cwd / name), f"bucket/{name}", recursive=True)
        yield


# tbparse (compared with in docs/migrating.md) warns about pandas deprecations by the thousand.
@pytest.mark.filterwarnings("ignore::Warning:tbparse.summary_reader")
@pytest.mark.parametrize("page", examples.PAGES, ids=lambda p: p.name)
def test_page_examples_run(page: Path, prepared: Path, tmp_path: Path) -> None:
    cwd = tmp_path / "work"
    shutil.copytree(prepared, cwd)
    with page_environment(page, cwd):
        result = examples.run_page(page, cwd)
    assert not result.failures, "\n".join(result.failures)


def test_blocks_follow_the_conventions(monkeypatch: pytest.MonkeyPatch) -> None:
    # test_page_examples_run gives docs/remote.md an S3 server: its blocks do run.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1")
    found = [block for page in examples.PAGES for block in examples.blocks(page)]
    broken = [problem for block in found for problem in examples.problems(block)]
    assert not broken, "\n".join(broken)
    not_run = [f"{b.where}: {b.reason}" for b in found if b.category == "not-run"]
    ran = [b for b in found if b.category in ("console", "sh", "python", "file")]
    print(f"{len(ran)} block(s) run, {len(not_run)} not run:", *not_run, sep="\n  ")
    assert len(not_run) <= MAX_NOT_RUN, "\n".join(not_run)
    assert len(ran) > 3 * len(not_run)


LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings (lower case, punctuation dropped, spaces -)."""
    found = set()
    in_fence = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def test_links_between_pages_resolve() -> None:
    broken = []
    for page in examples.PAGES:
        for target in LINK.findall(page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if path in PENDING_PAGES and not linked.exists():
                continue
            if not linked.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
