"""The layers of ``tbtool/`` (docs/inside.md), held by the import graph built from the source.

Every ``import`` in every module counts, including those inside functions and under
``TYPE_CHECKING``: an import deferred to call time is still a dependency. Imports must point
down the layers (or stay inside one) and form no circle; and the rules of
architecture.md that are about imports hold: framing knows no events, normalization knows no
files, the writer knows nothing of reading, operations know nothing of the terminal, and the
library never imports the CLI.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tbtool"

#: Bottom to top. A module may import from its own layer and the layers below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("tbtool._version", "tbtool.errors", "tbtool.vocabulary", "tbtool.sample")),
    ("storage", ("tbtool.storage",)),
    ("format", ("tbtool.proto", "tbtool.format")),
    ("writer", ("tbtool.writer",)),
    ("runs", ("tbtool.runs",)),
    ("values", ("tbtool.values",)),
    ("columnar", ("tbtool.columnar",)),
    ("reading", ("tbtool.reading",)),
    ("ops", ("tbtool.ops",)),
    ("adapters", ("tbtool.dask", "tbtool.compat")),
    ("cli", ("tbtool.cli", "tbtool.__main__")),
    ("api", ("tbtool",)),
]

#: (importer prefix, imported prefix, why): imports a layer's position alone would allow.
FORBIDDEN: list[tuple[str, str, str]] = [
    ("tbtool.format.record", "tbtool.proto", "framing knows no events"),
    ("tbtool.format.record", "google.protobuf", "framing knows no events"),
    ("tbtool.format.masked_crc", "tbtool.proto", "framing knows no events"),
    ("tbtool.format.salvage", "tbtool.proto", "framing knows no events"),
    ("tbtool.format.salvage", "google.protobuf", "framing knows no events"),
    ("tbtool.values", "tbtool.storage", "normalization knows no files"),
    ("tbtool.values", "tbtool.runs", "normalization knows no files"),
    ("tbtool.values", "fsspec", "normalization knows no files"),
    ("tbtool.runs", "pandas", "events and runs know nothing of pandas"),
    ("tbtool.runs", "tbtool.values", "runs know files and events, not typed values"),
    ("tbtool.writer", "tbtool.runs", "the writer knows nothing of reading"),
    ("tbtool.writer", "tbtool.values", "the writer knows nothing of reading"),
    ("tbtool.ops", "typer", "operations return results; the CLI renders them"),
    ("tbtool.ops", "rich", "operations return results; the CLI renders them"),
    ("tbtool.reading", "typer", "readers return data; the CLI renders it"),
    ("tbtool.reading", "rich", "readers return data; the CLI renders it"),
    ("tbtool", "tbtool.cli", "the library never imports the CLI"),
]
#: Importers a FORBIDDEN rule whose importer is ``tbtool`` (the whole package) leaves out.
CLI_MODULES = ("tbtool.cli", "tbtool.__main__")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


def _is_within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their ``__init__``), and the
    C extension by the name its source builds."""
    names: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    for source in PACKAGE.rglob("*.c"):
        parts = list(source.relative_to(PACKAGE.parent).with_suffix("").parts)
        names[".".join(parts)] = source
    return names


def _imports(modules: dict[str, Path]) -> list[Import]:
    """Every import statement of the package's modules, resolved to the module it loads:
    ``from a.b import c`` is ``a.b.c`` when that is a module, else ``a.b``."""
    found: list[Import] = []
    for name, path in modules.items():
        if path.suffix != ".py" or _is_within(name, "tbtool.proto"):
            continue
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [Import(name, alias.name, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    found.append(Import(name, full if full in modules else source, node.lineno))
    return found


def _layer(name: str) -> int:
    best: tuple[int, int] | None = None  # (length of the matching prefix, layer)
    for number, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if _is_within(name, prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), number)
    assert best is not None, f"{name} is in no layer: add it to LAYERS (and docs/inside.md)"
    return best[1]


MODULES = _module_names()
IMPORTS = _imports(MODULES)
INTERNAL = [i for i in IMPORTS if _is_within(i.imported, "tbtool") and i.imported != i.importer]


def _where(i: Import) -> str:
    return f"{MODULES[i.importer].relative_to(PACKAGE.parent)}:{i.line}: {i.imported}"


def test_every_module_is_in_a_layer():
    for name in MODULES:
        _layer(name)


def test_the_graph_holds_imports_of_every_form():
    # A parser that found nothing would let every rule below pass: these edges are there.
    edges = {(i.importer, i.imported) for i in INTERNAL}
    assert ("tbtool.cli.app", "tbtool.errors") in edges  # from tbtool.errors import ...
    assert ("tbtool.columnar.scan", "tbtool.storage") in edges  # from tbtool import storage
    assert ("tbtool.reading.log_reader", "tbtool.reading.frames") in edges  # inside a method


def test_imports_point_down_the_layers():
    upward = [
        f"{_where(i)} ({LAYERS[_layer(i.importer)][0]} imports {LAYERS[_layer(i.imported)][0]})"
        for i in INTERNAL
        if _layer(i.imported) > _layer(i.importer)
    ]
    assert not upward, "imports up the layers:\n" + "\n".join(upward)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_circles():
    edges: dict[str, set[str]] = {}
    for i in INTERNAL:
        edges.setdefault(i.importer, set()).add(i.imported)
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_cycles():
    # The test above must be able to fail.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(("importer", "imported", "why"), FORBIDDEN)
def test_architecture_rules(importer, imported, why):
    broken = [
        _where(i)
        for i in IMPORTS
        if _is_within(i.importer, importer)
        and _is_within(i.imported, imported)
        and not (importer == "tbtool" and any(_is_within(i.importer, c) for c in CLI_MODULES))
    ]
    assert not broken, f"{why}:\n" + "\n".join(broken)


def test_no_module_is_over_500_lines_without_saying_why():
    # architecture.md: a file over ~500 lines is asking to be split along an idea. One that
    # reads better whole says so in its docstring ("one idea").
    long = []
    for name, path in MODULES.items():
        if path.suffix != ".py" or _is_within(name, "tbtool.proto"):
            continue
        text = path.read_text()
        if text.count("\n") > 520:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "one idea" not in doc.lower():
                long.append(f"{path.relative_to(PACKAGE.parent)}: {text.count(chr(10))} lines")
    assert not long, "split these, or say in the docstring why each is one idea:\n" + "\n".join(
        long
    )


def test_every_package_init_is_a_map_of_its_modules():
    # Each package's docstring names each of its modules, so opening __init__.py shows the room.
    missing = []
    for init in PACKAGE.rglob("__init__.py"):
        if init.parent.name in ("proto",) or init.parent == PACKAGE:
            continue
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        for module in sorted(init.parent.glob("*.py")) + sorted(init.parent.glob("*/__init__.py")):
            stem = module.parent.name if module.name == "__init__.py" else module.stem
            if module == init or stem.startswith("__"):
                continue
            if f"``{stem}``" not in doc:
                missing.append(f"{init.relative_to(PACKAGE.parent)}: ``{stem}``")
    assert not missing, "package maps that miss a module:\n" + "\n".join(missing)


def test_the_version_module_matches_pyproject():
    import tomllib

    from tbtool._version import __version__

    with open(PACKAGE.parent / "pyproject.toml", "rb") as f:
        assert tomllib.load(f)["project"]["version"] == __version__
