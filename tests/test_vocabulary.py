"""One vocabulary across commands, help in the words a user types, and output a script can
rely on (issue 18). The vocabulary table itself lives in docs/cli.md, where users read it;
these tests hold it against the commands."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tbtool.cli import app
from tbtool.cli.app import COMMAND_MODULES, COMMANDS
from tbtool.cli.command import ALIASES, EXAMPLES
from tbtool.ops.synth.generate import synth

ROOT = Path(__file__).resolve().parent.parent
ENV = {"COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1"}
runner = CliRunner()


def cli(*args: object, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], env={**ENV, **(env or {})})


def commands() -> dict[str, typer.core.TyperCommand]:
    for name in COMMANDS:
        __import__(f"tbtool.cli.{COMMAND_MODULES.get(name, name)}")
    return typer.main.get_group(app).commands


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The README's demo logdir (the examples in the commands' help name its runs)."""
    path = tmp_path_factory.mktemp("vocabulary") / "demo"
    synth(path)
    return path


@pytest.fixture
def small(tmp_path) -> Path:
    path = tmp_path / "small"
    synth(path, runs=2, steps=20, kinds="scalars")
    return path


# -- help shows what a user types ---------------------------------------------------------------
#: What typer shows when it falls back on a parameter's Python type.
PYTHON_TYPE = re.compile(
    r"<[^>]*>|[{}]|\b(str|int|float|bool|list|dict|tuple|path|None|Optional|range)\b"
)


def described(help_text: str) -> list[str]:
    """The usage line and the left column (names and metavars) of every argument and option."""
    lines = help_text.splitlines()
    found = [lines[0]]
    section = None
    for line in lines:
        if line and not line.startswith(" "):
            section = line.rstrip(":")
        elif section in ("Arguments", "Options") and re.match(r"^  \S", line):
            found.append(re.split(r"\s{2,}", line.strip())[0])
    return found


@pytest.mark.parametrize("name", ["", *COMMANDS])
def test_help_names_no_python_type(name):
    result = cli(*([name] if name else []), "--help")
    assert result.exit_code == 0, result.output
    entries = described(result.stdout)
    assert len(entries) > 2
    for entry in entries:
        assert not PYTHON_TYPE.search(entry), f"tbtool {name} --help: {entry!r}"


def test_usage_lines_use_metavars():
    assert cli("ls", "--help").stdout.startswith("Usage: tbtool ls [OPTIONS] PATH...\n")
    assert "Usage: tbtool merge [OPTIONS] INPUT...\n" in cli("merge", "--help").stdout
    assert "Usage: tbtool diff [OPTIONS] A B\n" in cli("diff", "--help").stdout
    help_text = cli("dump", "--help").stdout
    for shown in ("--kind KIND", "--steps A:B", "--interval DURATION", "--format text|jsonl"):
        assert shown in help_text


def test_commands_in_workflow_order_with_one_line_summaries():
    listing = cli("--help").stdout.split("Commands:\n")[1].splitlines()
    order = [line.split()[0] for line in listing if line.strip()]
    assert order == list(COMMANDS)
    issue_order = ["ls", "dump", "validate", "check", "export", "merge", "purge", "clean", "synth"]
    assert [name for name in order if name in issue_order] == issue_order
    for line in listing:  # each summary whole on its line, never cut with "..."
        name = line.split()[0]
        assert line.split(None, 1)[1] == COMMANDS[name]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_help_ends_with_examples(name):
    text = cli(name, "--help").stdout
    examples = text.split("\nExamples:\n")[1].splitlines()
    assert examples and all(line.startswith(f"  tbtool {name} ") for line in examples)
    assert [line.strip() for line in examples] == list(EXAMPLES[name])


def _examples() -> list[tuple[str, str]]:
    commands()
    return [(name, example) for name in COMMANDS for example in EXAMPLES[name]]


#: Examples whose exit status is not 0 by design.
EXIT_STATUS = {
    "tbtool diff demo/run0-sgd-lr0.003 demo/run2-sgd-lr0.0001 --tag 'loss/*'": 1,  # they differ
}


@pytest.mark.parametrize(("name", "example"), _examples())
def test_help_examples_run(name, example, demo, tmp_path, monkeypatch):
    shutil.copytree(demo, tmp_path / "demo")
    monkeypatch.chdir(tmp_path)
    args = shlex.split(example)[1:]
    if name == "watch" and "--once" not in args:
        args.append("--once")  # a live view never ends: show it once
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == EXIT_STATUS.get(example, 0), result.output


# -- one vocabulary -----------------------------------------------------------------------------
def vocabulary() -> list[tuple[str, set[str], str | None, list[str]]]:
    """The rows of docs/cli.md's "One vocabulary" table: concept, option names, metavar (if
    the table gives one), commands."""
    section = (ROOT / "docs" / "cli.md").read_text().split("\n## One vocabulary\n")[1]
    rows = []
    for line in section.split("\n## ")[0].splitlines():
        if not line.startswith("| ") or line.startswith("| concept"):
            continue
        concept, option, on = (cell.strip() for cell in line.strip("|").split(" | "))
        names, _, metavar = option.strip("`").partition(" ")
        rows.append((concept, set(names.split("/")), metavar or None, on.split(", ")))
    return rows


def test_vocabulary_table_holds_for_every_command():
    rows = vocabulary()
    assert len(rows) >= 15
    found = commands()
    for concept, names, metavar, on in rows:
        for name in on:
            assert name in found, (concept, name)
            params = [p for p in found[name].params if set(p.opts) & names]
            assert len(params) == 1, f"tbtool {name}: {concept}: {names}"
            assert set(params[0].opts) == names, f"tbtool {name}: {params[0].opts} for {concept}"
            if metavar:
                assert params[0].metavar == metavar, f"tbtool {name} {names}"
    # Conversely: a command with one of these options is listed for it.
    for name, command in found.items():
        for param in command.params:
            rows_of = [row for row in rows if row[1] & set(param.opts)]
            if rows_of:
                assert any(name in row[3] for row in rows_of), f"tbtool {name} {param.opts}"


def test_reading_commands_filter_runs_and_tags():
    # contract.md: every command that reads accepts --run REGEX and --tag GLOB.
    reading = ["ls", "dump", "watch", "validate", "check", "summary", "diff", "export"]
    reading += ["report", "plot"]
    for concept, names, _, on in vocabulary():
        if names in ({"--run"}, {"--tag"}):
            assert set(reading) <= set(on), concept


def test_check_has_tag(small):
    ok = cli("check", small, "--require-tag", "loss/*", "--tag", "loss/*")
    assert ok.exit_code == 0, ok.output
    narrowed = cli("check", small, "--require-tag", "accuracy/*", "--tag", "loss/*")
    assert narrowed.exit_code == 1 and "check-missing-tag" in narrowed.stdout


def test_old_spellings_are_hidden_aliases():
    found = commands()
    assert ALIASES["merge"] == {"--out": "--output"}
    assert ALIASES["clean"] == {"--min-steps": "--last-step-below"}
    assert set(ALIASES["synth"]) == {"--runs", "--tags", "--steps", "--kinds"}
    reference = (ROOT / "docs" / "reference.md").read_text()
    for name, aliases in ALIASES.items():
        text = cli(name, "--help").stdout
        for alias, option in aliases.items():
            assert re.search(rf"{re.escape(alias)}\b", text) is None, (name, alias)
            assert option in text
            assert not any(alias in p.opts for p in found[name].params)
            section = reference.split(f"## tbtool {name}\n")[1].split("\n## ")[0]
            assert re.search(rf"{re.escape(alias)}\b", section) is None, (name, alias)


def test_synth_aliases_write_what_the_new_names_write(tmp_path):
    old = cli("synth", tmp_path / "a", "--runs", "1", "--tags", "2", "--steps", "7",
              "--kinds", "scalars,text", "--format", "json")  # fmt: skip
    new = cli("synth", tmp_path / "b", "--num-runs", "1", "--num-tags", "2", "--num-steps=7",
              "--kind", "scalar", "--kind", "text", "--format", "json")  # fmt: skip
    assert old.exit_code == new.exit_code == 0, old.output + new.output
    assert json.loads(old.stdout)["options"] == json.loads(new.stdout)["options"]
    assert json.loads(new.stdout)["options"]["kinds"] == ["scalars", "text"]


def test_merge_out_and_clean_min_steps_aliases(small, tmp_path):
    merged = cli("merge", small, "--out", tmp_path / "merged", "--format", "json")
    assert merged.exit_code == 0, merged.output
    assert json.loads(merged.stdout)["out"] == str(tmp_path / "merged")
    plans = []
    for option in ("--min-steps", "--last-step-below"):
        plan = json.loads(
            cli("clean", small, option, "100", "--dry-run", "--format", "json").stdout
        )
        plans.append([(run["run"], run["reasons"], run["remove"]) for run in plan["runs"]])
    assert plans[0] == plans[1] and len(plans[0]) == 2
    assert plans[0][0][1] == ["last step 19 < 100"]


def test_kinds_singular_or_plural_everywhere(small, tmp_path):
    plural = cli("dump", small, "--kind", "scalars", "--steps", "0")
    singular = cli("dump", small, "--kind", "scalar", "--steps", "0")
    assert (
        plural.exit_code == 0 and plural.stdout == singular.stdout and "loss/train" in plural.stdout
    )
    for kind in ("scalar", "scalars"):
        out = tmp_path / f"{kind}.csv"
        assert cli("export", small, "--kind", kind, "-o", out).exit_code == 0
    assert (tmp_path / "scalar.csv").read_bytes() == (tmp_path / "scalars.csv").read_bytes()
    # One error, in one format, for a kind no command knows.
    errors = [cli(*args, "--kind", "scalr").stderr for args in (("dump", small),
              ("export", small, "-o", tmp_path / "x.csv"), ("synth", tmp_path / "s"))]  # fmt: skip
    for error in errors:
        assert error.count("\n") == 1
        assert error.startswith(
            "tbtool: error: invalid value for '--kind': unknown kind: 'scalr' is not one of"
        )
        assert "did you mean scalar" in error


def test_durations(small):
    for value in ("300", "300s", "5m", "0.5h", "1d"):
        assert cli("validate", small, "--recent", value).exit_code == 0, value
    bad = cli("validate", small, "--recent", "soon")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("tbtool: error: invalid value for '--recent': 'soon' is not a")
    too_short = cli("dump", small, "--follow", "--interval", "0s")
    assert too_short.exit_code == 2 and "shorter than 0.01s" in too_short.stderr


# -- closed sets: completion and typos ----------------------------------------------------------
def complete(line: str) -> list[str]:
    env = {"_TBTOOL_COMPLETE": "complete_bash", "COMP_WORDS": line,
           "COMP_CWORD": str(len(line.split(" ")) - 1)}  # fmt: skip
    result = runner.invoke(app, [], env=env, prog_name="tbtool")
    assert result.exit_code == 0, result.output
    return result.output.split()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("tbtool dump --kind sc", ["scalar"]),
        ("tbtool export --kind pr", ["pr_curves"]),
        ("tbtool synth out --kind hi", ["histograms"]),
        ("tbtool ls --format ", ["text", "json"]),
        ("tbtool export --format js", ["jsonl"]),
        ("tbtool validate --fail-on w", ["warning"]),
        ("tbtool merge --layout s", ["sub-run"]),
        ("tbtool synth out --corrupt bit", ["bitflip"]),
        ("tbtool export --partition-by ", ["run"]),
        ("tbtool clean --by m", ["mtime"]),
    ],
)
def test_shell_completion_of_closed_sets(line, expected):
    assert complete(line) == expected


@pytest.mark.parametrize("name", [n for n in COMMANDS if n not in ("watch",)])
def test_format_typo_is_one_clean_line(name, small, tmp_path):
    option = "--summary-format" if name == "export" else "--format"
    args = {
        "diff": [small, small],
        "merge": [small, "-o", tmp_path / "m"],
        "synth": [tmp_path / "s"],
        "export": [small, "-o", tmp_path / "x.csv"],
        "report": [small, "-o", tmp_path / "r.html"],
        "plot": [small, "-o", tmp_path / "p.png"],
    }.get(name, [small])
    result = cli(name, *args, option, "nope")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(
        f"tbtool: error: invalid value for '{option}': 'nope' is not one of "
    )
    assert "Value error" not in result.stderr and "Usage:" not in result.stderr


def test_bare_tbtool_still_prints_its_help():
    result = runner.invoke(app, [], env=ENV)
    assert result.exit_code == 2 and "Commands:" in result.output
    assert "tbtool: error" not in result.output


def test_unknown_option_is_one_line():
    result = cli("ls", "demo", "--fromat", "json")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("tbtool: error: no such option: --fromat")
    assert "(see 'tbtool ls --help')" in result.stderr


# -- --format json wherever a command writes or summarises ---------------------------------------
def test_export_summary_format_json(small, tmp_path):
    out = tmp_path / "s.parquet"
    result = cli("export", small, "-o", out, "--summary-format", "json")
    assert result.exit_code == 0 and result.stderr == ""
    data = json.loads(result.stdout)
    assert data["rows"] == {"scalars": 160} and data["paths"] == {"scalars": str(out)}
    assert data["format"] == "parquet" and data["skipped"] == []
    clash = cli("export", small, "-o", "-", "--summary-format", "json")
    assert clash.exit_code == 2 and "-o - writes the data" in clash.stderr


def test_plot_and_report_format_json(small, tmp_path):
    pytest.importorskip("matplotlib")
    plot = cli("plot", small, "--tag", "loss/*", "-o", tmp_path / "p.png", "--format", "json")
    assert plot.exit_code == 0, plot.output
    assert json.loads(plot.stdout)["tags"] == ["loss/train", "loss/val"]
    pytest.importorskip("plotly")
    report = cli("report", small, "-o", tmp_path / "r.html", "--format", "json")
    assert report.exit_code == 0, report.output
    data = json.loads(report.stdout)
    assert data["runs"] == 2 and data["scalar_charts"] == 4 and data["bytes"] > 0


# -- -q wherever there is progress or a summary line ---------------------------------------------
def test_quiet(small, tmp_path):
    damaged = tmp_path / "damaged"
    synth(damaged, runs=1, steps=20, kinds="scalars", corrupt=["nan"])
    loud = cli("validate", damaged, "--fail-on", "warning")
    quiet = cli("validate", damaged, "--fail-on", "warning", "-q")
    assert loud.exit_code == quiet.exit_code == 1
    assert "validate: " in loud.stdout and "validate: " not in quiet.stdout
    assert "nonfinite-value" in quiet.stdout
    assert cli("synth", tmp_path / "q", "--num-runs", "1", "--num-steps", "3", "-q").stdout == ""
    merged = cli("merge", small, "-o", tmp_path / "m", "-q")
    assert merged.exit_code == 0 and merged.stdout == ""
    assert cli("check", small, "--no-nan", "-q").stdout == ""


# -- output a script can rely on -----------------------------------------------------------------
def test_piped_tables_never_cut_or_wrap(tmp_path):
    logdir = tmp_path / "logs"
    synth(logdir / "a-rather-long-experiment-name" / "seed-0001-with-extra-detail", runs=2,
          steps=5, kinds="scalars")  # fmt: skip
    result = cli("clean", logdir, "--last-step-below", "100", "--dry-run", env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "last step 4 < 100" in line]
    assert len(rows) == 2 and "…" not in result.stdout
    for row in rows:
        assert row.split()[0].startswith(
            "a-rather-long-experiment-name/seed-0001-with-extra-detail/"
        )
    table = cli(
        "synth", tmp_path / "s", "--num-runs", "2", "--num-steps", "3", env={"COLUMNS": "30"}
    )
    lines = table.stdout.splitlines()
    assert lines[1].split() == ["run", "files", "events", "size", "steps"]
    assert lines[2].split()[0] == "run0-sgd-lr0.003" and lines[2].split()[-1] == "0..2"


def test_a_single_event_file_is_a_run_named_after_its_directory(small):
    files = sorted((small / "run0-sgd-lr0.003").iterdir())
    listing = cli("ls", files[0], "--format", "json")
    assert [run["run"] for run in json.loads(listing.stdout)["runs"]] == ["run0-sgd-lr0.003"]
    assert cli("dump", files[0], "--steps", "0", "--kind", "scalar").stdout.split()[1] == (
        "run0-sgd-lr0.003"
    )
    other = sorted((small / "run1-adamw-lr0.01").iterdir())[0]
    both = json.loads(cli("ls", files[0], other, "--format", "json").stdout)
    names = [run["run"] for run in both["runs"]]
    assert names == [str(small / "run0-sgd-lr0.003"), str(small / "run1-adamw-lr0.01")]
