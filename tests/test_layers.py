"""Data flows one way: expression/slides → vae → gan → generate/evaluate → demo → cli.

Every ``import`` of every module under ``src/rnagan`` (function-level ones included) is read with
``ast``; a module may import the shared ground, its own stage, and stages below it, never one above
nor a sibling of its own layer (evaluate reads generated folders through ``rnagan.samples``, not
through ``rnagan.generate``). A new top-level module or package must be given a layer in ``LAYERS``
(the failure says so). Within a stage no two modules may import each other, not even through others
or from inside a function: such a cycle works only as long as one import stays late.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import rnagan

# Layer of each top-level module or package of rnagan; different names on one layer must not import
# each other (expression and slides are independent, and so are generate and evaluate).
LAYERS: dict[str, int] = {
    # shared ground: no stage
    "__init__": 0,
    "config": 0,
    "workspace": 0,
    "workspace_config": 0,
    "batches": 0,
    "checkpoint": 0,
    "errors": 0,
    "executors": 0,
    "fileio": 0,
    "logs": 0,
    "runs": 0,
    "runtime": 0,
    "html": 0,
    "datasets": 0,
    # stages, lowest first
    "expression": 1,
    "slides": 1,
    "samples": 2,  # folders of generated tiles, PNG files or a tile store: written by generate, read by the rest
    "vae": 2,
    "image": 2,  # the image stage reads tiles only; vae, image and spatial never import each other
    "pairing": 2,  # tiles paired with μ, read by both generator families (gan, flow)
    "spatial": 2,  # uses expression and slides; vae and spatial never import each other
    "gan": 3,
    "flow": 3,  # the second generator family; gan and flow never import each other
    "directions": 3,  # directions in μ learned from a workspace's samples, read by generate and evaluate
    "generate": 4,
    "evaluate": 4,
    "ssl": 4,
    "quiz": 4,
    "demo": 5,
    "cli": 6,
    "__main__": 7,
}

PACKAGE = Path(rnagan.__file__).parent


def _top(module: str) -> str | None:
    """``rnagan.gan.train`` → ``gan``; None for modules outside rnagan (and ``rnagan`` itself)."""
    parts = module.split(".")
    if parts[0] != "rnagan":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _is_module(package_root: Path, name: str) -> bool:
    return name in LAYERS or (package_root / f"{name}.py").is_file() or (package_root / name).is_dir()


def _module_name(path: Path, package_root: Path) -> str:
    """``rnagan/gan/train.py`` → ``rnagan.gan.train``; a package is named by its ``__init__.py``."""
    parts = ["rnagan", *path.relative_to(package_root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _statements(path: Path, package_root: Path) -> Iterator[tuple[str, list[str]]]:
    """(module, names) of every import in ``path``, relative ones made absolute: ``import a.b`` → ("a.b", [])."""
    name = _module_name(path, package_root).split(".")
    here = name if path.name == "__init__.py" else name[:-1]  # the package relative imports start from
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield base, [alias.name for alias in node.names]


def _imports(path: Path, package_root: Path) -> set[str]:
    """Dotted names of every rnagan module ``path`` imports (``from rnagan import x`` counts as rnagan.x)."""
    found: set[str] = set()
    for base, names in _statements(path, package_root):
        found.add(base)
        if base == "rnagan":  # `from rnagan import gan` names a module; `import __version__`, an attribute
            found.update(f"rnagan.{name}" for name in names if _is_module(package_root, name))
    return {name for name in found if name == "rnagan" or name.startswith("rnagan.")}


def violations(package_root: Path, layers: dict[str, int]) -> list[str]:
    """One line per import that goes up a layer, across two stages of one layer, or from an unplaced module."""
    problems = []
    for path in sorted(package_root.rglob("*.py")):
        relative = path.relative_to(package_root)
        owner = relative.parts[0].removesuffix(".py")
        if owner not in layers:
            problems.append(f"{relative}: rnagan.{owner} has no layer; add it to LAYERS in tests/test_layers.py")
            continue
        for name in sorted(_imports(path, package_root)):
            target = _top(name)
            if target is None or target == owner or target == "__init__":
                continue
            if target not in layers:
                problems.append(f"{relative}: imports {name}, which has no layer in LAYERS")
            elif layers[target] > layers[owner] or (layers[target] == layers[owner] and layers[owner] > 0):
                problems.append(
                    f"{relative} (layer {layers[owner]}, {owner}) imports {name} (layer {layers[target]}, {target})"
                )
    return problems


def test_no_module_imports_a_higher_stage() -> None:
    assert violations(PACKAGE, LAYERS) == []


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("vae/train.py", "from rnagan.gan.model import Generator\n", "imports rnagan.gan.model"),
        ("vae/train.py", "def f():\n    from rnagan import generate\n", "imports rnagan.generate"),
        ("vae/train.py", "from ..gan import model\n", "imports rnagan.gan"),
        ("evaluate/run.py", "import rnagan.generate\n", "imports rnagan.generate"),
        ("generate.py", "from rnagan.evaluate.features import read_image\n", "imports rnagan.evaluate.features"),
        ("demo/pipeline.py", "from rnagan import __version__, cli\n", "imports rnagan.cli"),
        ("slides/tiler.py", "from rnagan.expression import genes\n", "imports rnagan.expression"),
        ("workspace.py", "from rnagan.slides.store import TileStore\n", "imports rnagan.slides.store"),
        ("atlas/app.py", "from rnagan.config import Config\n", "has no layer"),
    ],
)
def test_the_check_catches_a_wrong_import(tmp_path: Path, module: str, source: str, expected: str) -> None:
    _write(tmp_path, "gan/model.py", "import torch\n")
    _write(tmp_path, "vae/model.py", "from rnagan.config import Config\nfrom rnagan.vae import latent\n")
    _write(tmp_path, module, source)
    problems = violations(tmp_path, LAYERS)
    assert len(problems) == 1 and expected in problems[0], problems


def import_graph(package_root: Path) -> dict[str, set[str]]:
    """Each rnagan module → the rnagan modules it imports; ``from package import module`` names the module."""
    modules = {_module_name(path, package_root): path for path in sorted(package_root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for base, names in _statements(path, package_root):
            targets.update(f"{base}.{n}" if f"{base}.{n}" in modules else base for n in names or [""])
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others (sorted, largest first)."""
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen, todo = set(), [start]
        while todo:
            for target in graph[todo.pop()] - seen:
                seen.add(target)
                todo.append(target)
        reach[start] = seen
    groups = {frozenset(m for m in reach[n] if n in reach[m]) for n in graph if n in reach[n]}
    return sorted((sorted(group) for group in groups), key=lambda group: (-len(group), group))


def test_no_import_cycle() -> None:
    """No module imports itself through others: such a cycle works only while one of its imports stays late."""
    assert import_cycles(import_graph(PACKAGE)) == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {
                "quiz/app.py": "def create_app():\n    from rnagan.quiz import routes\n",
                "quiz/routes.py": "from rnagan.quiz.app import render\n",
            },
            [["rnagan.quiz.app", "rnagan.quiz.routes"]],
        ),
        (
            {
                "quiz/__init__.py": "",
                "quiz/a.py": "from . import b\n",
                "quiz/b.py": "import rnagan.quiz.c\n",
                "quiz/c.py": "from rnagan.quiz.a import x\n",
            },
            [["rnagan.quiz.a", "rnagan.quiz.b", "rnagan.quiz.c"]],
        ),
        (
            {
                "quiz/app.py": "from rnagan.quiz import pages, routes\n",
                "quiz/routes.py": "from rnagan.quiz.pages import render\n",
                "quiz/pages.py": "from rnagan import html\n",
                "html.py": "import jinja2\n",
            },
            [],
        ),
    ],
)
def test_the_check_catches_an_import_cycle(tmp_path: Path, files: dict[str, str], expected: list[list[str]]) -> None:
    for relative, text in files.items():
        _write(tmp_path, relative, text)
    assert import_cycles(import_graph(tmp_path)) == expected
