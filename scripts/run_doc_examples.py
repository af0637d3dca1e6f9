"""Run every example in README.md and docs/*.md, so the docs cannot rot.

python scripts/run_doc_examples.py                  # every page; exit 1 on a mismatch
python scripts/run_doc_examples.py docs/ls.md       # some pages
python scripts/run_doc_examples.py --show docs/ls.md  # print what each command really prints

tests/test_docs_examples.py runs the same code. Conventions of the Markdown (docs/index.md
says them for writers of the docs too):

- ```` ```console ````: a transcript. `$ COMMAND` lines (a trailing `\\` continues a command)
  are run; the lines after one, up to the next `$`, are its expected output (stdout and
  stderr as a terminal shows them). A last line `[exit N]` says the command exits N (else 0).
  In expected output a line `...` stands for any number of lines and `...` inside a line for
  any text; numbers that vary from run to run (timings, MB/s, backup timestamps, file ages)
  are normalised by VARYING below.
- ```` ```sh ````: commands without shown output; each must exit 0.
- ```` ```python ````: executed (blocks of one page share their names, like a notebook); a
  block with `>>>` prompts is a doctest (ELLIPSIS and NORMALIZE_WHITESPACE on).
- ```` ```text ````: not a command (a synopsis, a layout); not run.
- `<!-- file: NAME -->` right before a block writes the block into the working directory
  as NAME, for the commands after it (an `expect.toml`, a script).
- `<!-- not-run: REASON -->` right before a block skips it; the test lists these and keeps
  their number small. `<!-- needs: MODULE -->` runs the block only where MODULE is
  installed (Polars, Spark), `<!-- needs: $VAR -->` only where the environment variable is
  set (`$AWS_ENDPOINT_URL`: tests/test_docs_examples.py starts a local S3 server for
  docs/remote.md), and counts it as not run elsewhere.

Every page runs in its own copy of a directory prepared by `prepare()`: the `demo` logdir of
the README's first command (`tbtool synth demo`). Plain `tbtool ...` commands run in this
process (through typer's test runner, the same code as the console script, without paying
for Python's start-up each time); anything with shell syntax runs in bash with this Python's
`bin` directory first on PATH. TBTOOL_DOCS_SUBPROCESS=1 runs every command in bash.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# What a terminal-less user sees: plain text, 100 columns, UTC.
ENV = {"COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1", "TZ": "UTC"}
COMMAND_TIMEOUT = 120

# Output that legitimately differs between runs, replaced on both sides before comparing.
VARYING = [
    (re.compile(r"\b[\d.]+ s \([\d.]+ MB/s\)"), "N s (N MB/s)"),  # synth's timing
    (re.compile(r"modified [\d.]+ s ago"), "modified N s ago"),  # validate's file age
    (re.compile(r"\b\d{8}T\d{6}Z-[0-9a-f]{6}\b"), "TIME-ID"),  # backup archive names
    (re.compile(r"\bclean-\d{8}T\d{6}Z\b"), "clean-TIME"),  # clean --trash folders
    (re.compile(r"\b\d+\.\d(d\b| days old)"), r"N.N\1"),  # clean's run ages
]

FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)\s*$")
MARKER = re.compile(r"^<!--\s*(not-run|file|needs)\s*:\s*(.*?)\s*-->\s*$")
EXIT_LINE = re.compile(r"^\[exit (\d+)\]$")
SHELL_SYNTAX = set("|&;<>$`*?[]{}()~!\\")


@dataclass
class Block:
    """One fenced block of a page, with the marker comment right before it (if any)."""

    page: Path
    line: int
    lang: str
    text: str
    marker: str = ""
    marker_arg: str = ""

    @property
    def needs_met(self) -> bool:
        """`needs: MODULE` is met where MODULE imports; `needs: $VAR` where VAR is set."""
        if self.marker_arg.startswith("$"):
            return bool(os.environ.get(self.marker_arg[1:]))
        return importlib.util.find_spec(self.marker_arg) is not None

    @property
    def reason(self) -> str:
        """Why a block is not run."""
        if self.marker == "needs":
            return f"needs {self.marker_arg}, which is not there"
        return self.marker_arg

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def category(self) -> str:
        """console, sh, python (run); file; not-run (also an unmet `needs`); text; or
        'unknown' (a problem)."""
        if self.marker == "needs" and not self.needs_met:
            return "not-run"
        if self.marker and self.marker != "needs":
            return self.marker
        if self.lang in ("console", "sh", "python", "text"):
            return self.lang
        return "unknown"


@dataclass
class PageResult:
    """What running one page's blocks gave."""

    page: Path
    ran: int = 0
    commands: int = 0
    failures: list[str] = field(default_factory=list)


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, in order."""
    lines = page.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, lang = match.groups()
        marker = ("", "")
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0 and (m := MARKER.match(lines[j].strip())):
            marker = (m.group(1), m.group(2))
        end = i + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        text = "\n".join(lines[i + 1 : end]) + "\n"
        found.append(Block(page, i + 1, lang, text, *marker))
        i = end + 1
    return found


def problems(block: Block) -> list[str]:
    """Why a block breaks the conventions (an untagged fence, a transcript tagged sh...)."""
    out = []
    if block.category == "unknown":
        out.append(
            f"{block.where}: a ```{block.lang} block needs `<!-- file: NAME -->` or "
            "`<!-- not-run: REASON -->`, or the language console, sh, python or text"
        )
    if block.category == "sh" and any(line.startswith("$ ") for line in block.text.splitlines()):
        out.append(f"{block.where}: `$ ` prompts belong in a ```console block")
    if block.category == "not-run" and not block.marker_arg:
        out.append(f"{block.where}: not-run needs a reason")
    return out


def joined_lines(lines: list[str]) -> Iterator[str]:
    """Logical lines: a line ending in `\\` continues on the next."""
    pending: list[str] = []
    for line in lines:
        pending.append(line)
        if not line.endswith("\\"):
            yield "\n".join(pending)
            pending = []
    if pending:
        yield "\n".join(pending)


def transcript(text: str) -> list[tuple[str, list[str]]]:
    """A console block as (command, expected output lines) pairs."""
    steps: list[tuple[str, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        command = [lines[i][2:]]
        while command[-1].endswith("\\") and i + 1 < len(lines):
            i += 1
            command.append(lines[i])
        i += 1
        expected = []
        while i < len(lines) and not lines[i].startswith("$ "):
            expected.append(lines[i])
            i += 1
        steps.append(("\n".join(command), expected))
    return steps


def script_commands(text: str) -> list[str]:
    """The commands of an sh block: logical lines that are not blank or comments."""
    return [
        command
        for command in joined_lines(text.splitlines())
        if command.strip() and not command.lstrip().startswith("#")
    ]


def simple_argv(command: str) -> list[str] | None:
    """argv of a plain `tbtool ...` command without shell syntax, else None."""
    quote = ""
    previous = " "
    for char in command:
        if quote:
            if char == quote:
                quote = ""
            elif quote == '"' and char in "$`\\":
                return None  # still expanded inside double quotes
        elif char in "'\"":
            quote = char
        elif char == "#" and previous.isspace():
            break
        elif char in SHELL_SYNTAX:
            return None
        previous = char
    try:
        argv = shlex.split(command, comments=True)
    except ValueError:  # unbalanced quotes: let bash say what is wrong
        return None
    return argv if argv and argv[0] == "tbtool" else None


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """chdir for the duration: in-process commands and Python blocks see relative paths."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_command(command: str, cwd: Path) -> tuple[int, str]:
    """Run one shown command in cwd: exit status and what a terminal would show."""
    argv = None if os.environ.get("TBTOOL_DOCS_SUBPROCESS") else simple_argv(command)
    if argv is not None:
        from typer.testing import CliRunner

        from tbtool.cli import app

        with working_directory(cwd):
            result = CliRunner().invoke(app, argv[1:], env=ENV, prog_name="tbtool")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output
    env = {**os.environ, **ENV}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    return done.returncode, done.stdout


def normalised(lines: list[str]) -> list[str]:
    """Lines without trailing spaces or trailing blank lines, varying numbers replaced."""
    out = []
    for line in lines:
        for pattern, replacement in VARYING:
            line = pattern.sub(replacement, line)
        out.append(line.rstrip())
    while out and not out[-1]:
        out.pop()
    return out


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether actual output fits the expected lines with their `...` wildcards."""
    parts = []
    for line in expected:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*".join(re.escape(piece) for piece in line.split("...")) + r"\n")
    return re.fullmatch("".join(parts), "".join(line + "\n" for line in actual)) is not None


def check_transcript(block: Block, cwd: Path, result: PageResult, show: bool) -> None:
    """Run a console block's commands; compare output and exit status with the shown ones."""
    for command, expected_raw in transcript(block.text):
        expected = normalised(expected_raw)
        want_status = 0
        if expected and (m := EXIT_LINE.match(expected[-1])):
            want_status = int(m.group(1))
            expected = normalised(expected[:-1])
        status, output = run_command(command, cwd)
        actual = normalised(output.splitlines())
        result.commands += 1
        if show:
            print(f"$ {command}\n{output}" + (f"[exit {status}]\n" if status else ""))
        if status != want_status or not matches(expected, actual):
            result.failures.append(
                f"{block.where}: $ {command}\n"
                f"--- expected (exit {want_status})\n" + "\n".join(expected) + "\n"
                f"--- actual (exit {status})\n" + "\n".join(actual) + "\n"
            )


def check_script(block: Block, cwd: Path, result: PageResult, show: bool) -> None:
    """Run an sh block's commands; each must succeed."""
    for command in script_commands(block.text):
        status, output = run_command(command, cwd)
        result.commands += 1
        if show:
            print(f"$ {command}\n{output}")
        if status != 0:
            result.failures.append(f"{block.where}: {command}\nexit {status}:\n{output}")


def check_python(
    block: Block, cwd: Path, namespace: dict[str, object], result: PageResult, show: bool
) -> None:
    """Run a python block (a doctest when it has prompts) in the page's namespace."""
    with working_directory(cwd):
        if ">>> " in block.text:
            test = doctest.DocTestParser().get_doctest(
                block.text, namespace, block.where, str(block.page), block.line
            )
            report = io.StringIO()
            runner = doctest.DocTestRunner(
                optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
            )
            runner.run(test, out=report.write, clear_globs=False)
            namespace.update(test.globs)  # DocTest ran on a copy; later blocks see its names
            if runner.failures:
                result.failures.append(f"{block.where}: doctest failed\n{report.getvalue()}")
            if show:
                print(report.getvalue() or f"{block.where}: doctest passed")
            return
        code = compile(block.text, block.where, "exec")
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                exec(code, namespace)
        except Exception as error:
            result.failures.append(f"{block.where}: python block raised {error!r}")
        if show:
            print(captured.getvalue())


def run_page(page: Path, cwd: Path, show: bool = False) -> PageResult:
    """Run every runnable block of page in cwd; mismatches are in the result's failures."""
    result = PageResult(page)
    namespace: dict[str, object] = {"__name__": "__main__"}
    for block in blocks(page):
        result.failures.extend(problems(block))
        category = block.category
        if category == "file":
            (cwd / block.marker_arg).write_text(block.text)
        elif category == "console":
            check_transcript(block, cwd, result, show)
        elif category == "sh":
            check_script(block, cwd, result, show)
        elif category == "python":
            check_python(block, cwd, namespace, result, show)
        else:
            continue
        result.ran += 1
    return result


def prepare(directory: Path) -> None:
    """The data every page may use: `demo`, what the README's first command writes."""
    directory.mkdir(parents=True, exist_ok=True)
    status, output = run_command("tbtool synth demo", directory)
    if status != 0:
        raise RuntimeError(f"tbtool synth demo failed: {output}")


def main(argv: list[str]) -> int:
    import tempfile

    show = "--show" in argv
    pages = [Path(a).resolve() for a in argv if not a.startswith("--")] or PAGES
    with tempfile.TemporaryDirectory(prefix="tbtool-docs-") as tmp:
        base = Path(tmp) / "base"
        prepare(base)
        failed = 0
        for page in pages:
            cwd = Path(tmp) / page.stem
            shutil.copytree(base, cwd)
            result = run_page(page, cwd, show)
            failed += len(result.failures)
            print(f"{page.relative_to(ROOT)}: {result.ran} block(s), {result.commands} command(s)")
            for failure in result.failures:
                print(failure)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
