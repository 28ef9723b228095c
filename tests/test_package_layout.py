"""How the package's modules depend on each other, and where the project's constants live."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fmnist_lib"
MODULES = sorted(path.stem for path in PACKAGE.glob("*.py") if not path.stem.startswith("_"))


def package_imports(module: str) -> set[str]:
    """The fmnist_lib modules that `module` imports, anywhere in its source."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("fmnist_lib")
        ):
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("fmnist_lib.")}
    return found


def test_theory_depends_only_on_the_validator():
    """The theory chapters' teaching code stands alone: it imports only `validation`."""
    assert package_imports("theory") <= {"validation"}


def test_no_module_of_the_package_depends_on_theory():
    """Only the chapters and the tests use `theory`; training takes its metrics from evaluation."""
    users = [module for module in MODULES if "theory" in package_imports(module)]
    assert users == []


def test_validation_imports_nothing_from_the_package():
    assert package_imports("validation") == set()


def test_split_sizes_are_written_out_only_in_data():
    """55,000, 5,000 and 10,000 appear as literals in data.py alone; the rest import them."""
    literal = re.compile(r"(?<![\w.])(55_?000|5_?000|10_?000|60_?000)(?![\w.])")
    offenders = [
        f"{module}.py:{number}"
        for module in MODULES
        if module != "data"
        for number, line in enumerate(
            (PACKAGE / f"{module}.py").read_text(encoding="utf-8").splitlines(), start=1
        )
        if literal.search(line.split("#")[0])
    ]
    assert offenders == []


def test_importing_the_package_quiets_tensorflow_without_loading_it():
    """`import fmnist_lib` sets TF_CPP_MIN_LOG_LEVEL (a value already set wins) and does not load
    TensorFlow itself, so TensorFlow, loaded by a later import, starts without its C++ log."""
    script = (
        "import os, sys; import fmnist_lib; "
        "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'), 'tensorflow' in sys.modules)"
    )
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    run = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=True
    )
    assert run.stdout.split() == ["3", "False"]
