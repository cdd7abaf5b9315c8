"""A test that trains, drives a browser or starts another process carries the ``integration`` marker.

``make test-fast`` runs ``-m "not integration and not slow"``: an unmarked training test would slow that tier
down unseen. Every test module is read with ``ast``. A test uses one of ``SIGNS`` when its body names it, or
a function of its own file that it calls does, or a fixture it requests (from its module or a conftest.py
above it; autouse ones too) does, through the fixtures and functions those use in turn. Such a test must be
marked ``integration`` (or ``slow``, which neither default tier runs), itself or by its module's
``pytestmark``. Tests slow for other reasons (a CLI command that trains, Inception on CPU) are marked by
their measured duration: this check cannot see them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).parent

# Imported names that mean the test leaves the unit tier; a name inside one (subprocess.run) counts too.
SIGNS = (
    "rnagan.gan.train.train_gan",
    "rnagan.vae.train.train_vae",
    "rnagan.image.train.train_image_stage",
    "rnagan.ssl.simclr.pretrain",
    "rnagan.demo.pipeline.run_demo",
    "playwright",  # a real browser
    "distributed.LocalCluster",  # a Dask scheduler and worker processes
    "subprocess",  # another interpreter: torchrun, `python -m rnagan`, a training run killed midway
)
TIER_MARKS = ("pytest.mark.integration", "pytest.mark.slow")


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for that attribute chain or a call of it; "" for anything else."""
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _marked(expressions: list[ast.expr]) -> bool:
    return any(_dotted(node) in TIER_MARKS for expression in expressions for node in ast.walk(expression))


class _File:
    """A parsed test module or conftest.py: what its names were imported as, its fixtures and other functions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(), filename=str(path))
        self.imported: dict[str, str] = {}
        for node in ast.walk(self.tree):  # function-level imports too: fixtures import training code lazily
            if isinstance(node, ast.Import):
                for alias in node.names:  # `import a.b` binds a; `import a.b as c` binds c to a.b
                    self.imported[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0]
                    )
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        functions = [node for node in self.tree.body if isinstance(node, ast.FunctionDef)]
        self.fixtures = {f.name: f for f in functions if any(_dotted(d).endswith("fixture") for d in f.decorator_list)}
        self.functions = {f.name: f for f in functions if f.name not in self.fixtures}
        self.autouse = [
            name
            for name, f in self.fixtures.items()
            if any(kw.arg == "autouse" for d in f.decorator_list if isinstance(d, ast.Call) for kw in d.keywords)
        ]

    def signs(self, function: ast.FunctionDef) -> set[str]:
        """The SIGNS that ``function``'s own body names (``train.train_gan`` after ``from rnagan.gan import train``)."""
        chains = {_dotted(n) for n in ast.walk(function) if isinstance(n, (ast.Name, ast.Attribute))}
        names = {
            self.imported[root] + dot + rest
            for root, dot, rest in (c.partition(".") for c in chains)
            if root in self.imported
        }
        return {sign for sign in SIGNS for name in names if name == sign or name.startswith(f"{sign}.")}


def _uses(file: _File, function: ast.FunctionDef, requested: list[str], scope: list[_File], seen: set[int]) -> set[str]:
    """SIGNS reached from ``function`` (with fixtures ``requested``) through its file's functions and fixtures.

    Fixtures resolve in ``scope``, the test's module first and then the conftest.py files above it, as pytest
    resolves them for the test; one already followed is skipped, so a fixture overriding its namesake reaches it.
    """
    seen.add(id(function))
    found = file.signs(function)
    called = {node.id for node in ast.walk(function) if isinstance(node, ast.Name)} & file.functions.keys()
    for name in called:
        if id(file.functions[name]) not in seen:
            found |= _uses(file, file.functions[name], [], scope, seen)
    for name in requested:
        owner = next((f for f in scope if name in f.fixtures and id(f.fixtures[name]) not in seen), None)
        if owner is not None:
            fixture = owner.fixtures[name]
            found |= _uses(owner, fixture, [a.arg for a in fixture.args.args], scope, seen)
    return found


def unmarked(tests_root: Path) -> list[str]:
    """One line per test under ``tests_root`` that uses a SIGN and carries neither tier marker."""
    conftests = {path.parent: _File(path) for path in tests_root.rglob("conftest.py")}
    problems = []
    for path in sorted(tests_root.rglob("test_*.py")):
        module = _File(path)
        pytestmark = [
            node.value
            for node in module.tree.body
            if isinstance(node, ast.Assign) and any(_dotted(target) == "pytestmark" for target in node.targets)
        ]
        if _marked(pytestmark):
            continue
        folders = [path.parent, *(p for p in path.parent.parents if p.is_relative_to(tests_root))]
        scope = [module, *(conftests[folder] for folder in folders if folder in conftests)]
        autouse = [name for file in scope for name in file.autouse]
        for test in module.functions.values():
            if test.name.startswith("test") and not _marked(test.decorator_list):
                requested = [a.arg for a in test.args.args] + autouse
                if found := _uses(module, test, requested, scope, set()):
                    problems.append(
                        f"{path.relative_to(tests_root)}::{test.name} uses {', '.join(sorted(found))}: mark it "
                        "@pytest.mark.integration, or its module with pytestmark = pytest.mark.integration"
                    )
    return problems


def test_every_test_that_trains_or_starts_a_process_is_in_the_integration_tier() -> None:
    assert unmarked(TESTS) == []


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


CONFTEST = """\
import pytest

@pytest.fixture
def trained(tmp_path):
    from rnagan.vae.train import train_vae
    return train_vae(tmp_path)

@pytest.fixture
def reads_trained(trained):
    return trained
"""


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def test_a(trained):\n    pass\n", "test_a uses rnagan.vae.train.train_vae"),
        ("def test_a(reads_trained):\n    pass\n", "test_a uses rnagan.vae.train.train_vae"),
        (
            "import pytest\n@pytest.fixture\ndef trained(trained):\n    return trained\n"
            "def test_a(trained):\n    pass\n",
            "test_a uses rnagan.vae.train.train_vae",
        ),
        ("import subprocess\ndef _run():\n    subprocess.run(['x'])\ndef test_a():\n    _run()\n", "uses subprocess"),
        ("from rnagan.gan import train\ndef test_a():\n    train.train_gan()\n", "uses rnagan.gan.train.train_gan"),
        (
            "import pytest\n@pytest.fixture(autouse=True)\ndef browser():\n"
            "    from playwright.sync_api import sync_playwright\n    return sync_playwright()\n"
            "def test_a():\n    pass\n",
            "uses playwright",
        ),
    ],
)
def test_the_check_catches_an_unmarked_test(tmp_path: Path, source: str, expected: str) -> None:
    _write(tmp_path, "conftest.py", CONFTEST)
    _write(tmp_path, "sub/test_mod.py", source)
    problems = unmarked(tmp_path)
    assert len(problems) == 1 and expected in problems[0], problems


@pytest.mark.parametrize(
    "source",
    [
        "import pytest\n@pytest.mark.integration\ndef test_a(trained):\n    pass\n",
        "import pytest\n@pytest.mark.slow\ndef test_a(trained):\n    pass\n",
        "import pytest\npytestmark = [pytest.mark.integration]\ndef test_a(trained):\n    pass\n",
        "import subprocess\ndef test_a(tmp_path):\n    pass\n",  # imported, never used by the test
    ],
)
def test_marked_tests_and_unit_tests_pass(tmp_path: Path, source: str) -> None:
    _write(tmp_path, "conftest.py", CONFTEST)
    _write(tmp_path, "sub/test_mod.py", source)
    assert unmarked(tmp_path) == []
