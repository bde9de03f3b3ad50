"""The package's imports go one way (docs/architecture.md): no module imports from a layer above
its own, nothing imports in a loop (module by module, nor package by package), and an import inside
a function says why on its line."""

import ast
from pathlib import Path

from conftest import REPO

# Layer of each module (by dotted-name prefix, longest first); a module may import its own layer and those below.
# The entries are also the units of the package-level loop check.
LAYERS = {
    "transfer_lab.errors": 0,
    "transfer_lab.io": 0,
    "transfer_lab.devices": 0,
    "transfer_lab.layout": 0,
    "transfer_lab.similarity.cka": 0,  # the math only (torch)
    "transfer_lab.compose": 1,
    "transfer_lab.conf": 1,
    "transfer_lab.spec": 2,
    "transfer_lab.study_key": 2,
    "transfer_lab.kinds": 2,
    "transfer_lab.runname": 2,
    "transfer_lab.resolvers": 3,
    "transfer_lab.data": 3,
    "transfer_lab.models": 4,
    "transfer_lab.run": 5,
    "transfer_lab.similarity": 6,
    "transfer_lab.study": 7,
    "transfer_lab.console": 8,
    "transfer_lab.cli": 8,
    "transfer_lab.__main__": 8,
    "transfer_lab.sweep": 8,
    "hydra_plugins": 8,
    "transfer_lab.report": 8,
    "transfer_lab.bench": 8,
    "transfer_lab.prepare": 8,
    "transfer_lab.synthetic_imagenet": 8,
}
# The report reads records and specs, nothing that trains; it writes its files with io's atomic writers.
REPORT_MAY_IMPORT = (
    "transfer_lab.report",
    "transfer_lab.spec",
    "transfer_lab.study_key",
    "transfer_lab.run.record",
    "transfer_lab.errors",
    "transfer_lab.io",
)


def modules() -> dict[str, Path]:
    paths = [*REPO.glob("transfer_lab/**/*.py"), *REPO.glob("hydra_plugins/**/*.py")]
    named = {}
    for path in paths:
        parts = path.relative_to(REPO).with_suffix("").parts
        named[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return named


def unit(module: str) -> str:
    """The entry of LAYERS a module belongs to: its package, or itself."""
    return max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)


def layer(module: str) -> int:
    return LAYERS[unit(module)]


def package_imports(path: Path) -> list[tuple[ast.stmt, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node, node.module))
        elif isinstance(node, ast.Import):
            found += [(node, alias.name) for alias in node.names]
    return [(node, name) for node, name in found if name.split(".")[0] in ("transfer_lab", "hydra_plugins")]


def test_imports_go_down_the_layers_and_the_report_reads_only_records():
    upward = []
    for module, path in modules().items():
        if module == "transfer_lab":
            continue  # the package's __init__ registers the config resolvers
        for _, name in package_imports(path):
            if layer(name) > layer(module):
                upward.append(f"{module} -> {name}")
            if module.startswith("transfer_lab.report") and not name.startswith(REPORT_MAY_IMPORT):
                upward.append(f"{module} -> {name} (the report reads records)")
    assert not upward, upward


def loops_in(graph: dict[str, set[str]]) -> list[str]:
    visiting, done, loops = set(), set(), []

    def visit(module: str, trail: list[str]) -> None:
        if module in visiting:
            loops.append(" -> ".join(trail[trail.index(module) :] + [module]))
            return
        if module in done:
            return
        visiting.add(module)
        for imported in graph.get(module, ()):
            visit(imported, trail + [module])
        visiting.discard(module)
        done.add(module)

    for module in graph:
        visit(module, [])
    return loops


def test_no_import_loop():
    named = modules()
    graph = {
        m: {n for _, n in package_imports(p) if n in named and n != m} for m, p in named.items() if m != "transfer_lab"
    }
    loops = loops_in(graph)
    assert not loops, loops


def test_no_import_loop_between_packages():
    """run -> similarity -> run would pass the module check (no module imports itself back) but ties two
    packages together: a package imports another only one way."""
    graph: dict[str, set[str]] = {}
    for module, path in modules().items():
        if module != "transfer_lab":
            graph.setdefault(unit(module), set()).update(
                unit(n) for _, n in package_imports(path) if unit(n) != unit(module)
            )
    loops = loops_in(graph)
    assert not loops, loops


def test_the_loop_checks_see_a_package_loop():
    assert loops_in({"transfer_lab.run": {"transfer_lab.similarity"}, "transfer_lab.similarity": {"transfer_lab.run"}})


def test_imports_inside_functions_say_why():
    silent = []
    for _module, path in modules().items():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)) and "#" not in lines[inner.lineno - 1]:
                        silent.append(f"{path.relative_to(REPO)}:{inner.lineno}")
    assert not silent, silent


def test_no_module_is_over_300_lines():
    long = {str(p.relative_to(REPO)): n for p in modules().values() if (n := len(p.read_text().splitlines())) > 300}
    assert not long, long
