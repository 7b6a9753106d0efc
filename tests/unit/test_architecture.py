"""The house rules of ARCHITECTURE.md, read from the source: imports go one way, the device runtime
stands alone, no folder grows into a hall."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"edgekit": ROOT, "edgekit_runtime": ROOT / "runtimes" / "python"}
CHECKED_FOLDERS = ("edgekit", "runtimes", "tests", "benchmarks")
MAX_MODULES_PER_FOLDER = 15

# Stages in the order data flows (ARCHITECTURE.md): a module may import from its own layer and the
# layers before it, never from a later one. Names are edgekit's top-level modules and folders.
LAYERS = (
    {"errors", "_version", "yaml_files", "home", "storage", "notebook", "display"},
    {"data"},
    {"train", "imports"},
    {"bundle", "registry", "training", "importing", "distributed"},
    {"compile", "artifact", "devices"},
    {"bench", "reporting", "workflow"},
    {"server"},
    {"fleet", "pipeline"},
    {"demo"},
    {"commands"},
    {"cli"},
)


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for top, base in SOURCES.items():
        for path in (base / top).rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            found[".".join(parts)] = (path, is_package)
    return found


MODULES = _modules()


def _imports(name: str) -> set[str]:
    """Every project module ``name`` imports, at the top or inside a function alike."""
    path, is_package = MODULES[name]
    package = name if is_package else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                module = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            targets |= {f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module for alias in node.names}
    return {target for target in targets if target in MODULES and target != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _layer(module: str) -> int:
    top = module.split(".")[1]
    return next(index for index, names in enumerate(LAYERS) if top in names)


def test_every_edgekit_module_has_a_layer():
    tops = {name.split(".")[1] for name in MODULES if name.startswith("edgekit.")}
    assert tops <= set().union(*LAYERS), f"add {sorted(tops - set().union(*LAYERS))} to LAYERS and ARCHITECTURE.md"


def test_imports_go_one_way_through_the_stages():
    backwards = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items() if name.startswith("edgekit.")
        for target in targets if target.startswith("edgekit.") and _layer(target) > _layer(name)
    )
    assert backwards == []


def test_no_import_cycles():
    order, lowest, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        order[module] = lowest[module] = len(order)
        stack.append(module)
        on_stack.add(module)
        for target in GRAPH[module]:
            if target not in order:
                visit(target)
                lowest[module] = min(lowest[module], lowest[target])
            elif target in on_stack:
                lowest[module] = min(lowest[module], order[target])
        if lowest[module] == order[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in GRAPH:
        if module not in order:
            visit(module)
    assert cycles == []


def test_the_device_runtime_imports_nothing_of_edgekit():
    leaks = sorted(f"{name} imports {target}" for name, targets in GRAPH.items() if name.startswith("edgekit_runtime")
                   for target in targets if target == "edgekit" or target.startswith("edgekit."))
    assert leaks == []


def test_no_folder_holds_more_than_fifteen_modules():
    counts: dict[Path, int] = {}
    for path in (path for folder in CHECKED_FOLDERS for path in (ROOT / folder).rglob("*.py")):
        if "build" not in path.relative_to(ROOT).parts:  # what pip leaves behind when it builds in place
            counts[path.parent] = counts.get(path.parent, 0) + 1
    crowded = {str(folder.relative_to(ROOT)): count for folder, count in counts.items() if count > MAX_MODULES_PER_FOLDER}
    assert crowded == {}
