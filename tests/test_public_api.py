"""The names ``import rnagan`` offers a notebook: each resolves, each says what it does, none pulls torch in early."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import rnagan

EXPORTED = [name for name in rnagan.__all__ if name != "__version__"]


@pytest.mark.parametrize("name", EXPORTED)
def test_every_exported_name_resolves_and_has_a_docstring(name: str) -> None:
    value = getattr(rnagan, name)
    doc = inspect.getdoc(value)
    written = doc and not doc.startswith(f"{name}(")  # not the signature a dataclass makes up
    assert written and len(doc.split()) >= 5, f"rnagan.{name} ({value.__module__}) needs a docstring help() can show"
    assert value.__module__ == rnagan._EXPORTS[name], f"rnagan.{name} comes from {value.__module__}"


def test_dir_lists_the_exports_and_unknown_names_raise() -> None:
    assert set(rnagan.__all__) <= set(dir(rnagan))
    with pytest.raises(AttributeError, match="no attribute 'train_vea'"):
        rnagan.train_vea  # noqa: B018


@pytest.mark.integration
def test_evaluate_stays_the_function_after_its_subpackage_is_imported() -> None:
    code = (
        "import sys, rnagan, rnagan.evaluate.folders; "
        "assert rnagan.evaluate is sys.modules['rnagan.evaluate.run'].evaluate, rnagan.evaluate; "
        "from rnagan import evaluate; assert callable(evaluate)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.integration
def test_import_rnagan_loads_no_torch() -> None:
    code = "import sys, rnagan; print(sorted(m for m in ('torch', 'pandas', 'rnagan.config') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"import rnagan loaded {out.strip()}"
