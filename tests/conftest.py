"""Shared fixtures: the real dataset (installed by `make data`), an isolated results cache, and
the chapters executed once per session with their small parameters."""

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from test_notebooks import SmokeRuns

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def real_data_dir():
    """The folder holding the real Fashion-MNIST files; `make test` runs `make data` first."""
    from fmnist_lib.data import DataError, locate_fashion_mnist

    try:
        return locate_fashion_mnist(download=False)
    except DataError as error:
        pytest.fail(f"Fashion-MNIST is needed for this test; run `make data` first ({error})")


@pytest.fixture
def results(tmp_path, monkeypatch):
    """An empty training cache that `run` uses by default for the length of one test."""
    folder = tmp_path / "results"
    monkeypatch.setenv("FMNIST_RESULTS_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory: pytest.TempPathFactory, real_data_dir: Path) -> "SmokeRuns":
    """The chapters run by papermill with their SMOKE_PARAMETERS, each once per session.

    `smoke_runs.executed(chapter)` is the executed `<chapter>.ipynb` in a session temporary
    folder; the chapter list and the parameters live in tests/test_notebooks.py. The kernels
    cache their small training runs in a session folder, not in the project's results/.
    """
    from test_notebooks import SmokeRuns

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FMNIST_RESULTS_DIR", str(tmp_path_factory.mktemp("smoke-results")))
        yield SmokeRuns(tmp_path_factory.mktemp("smoke"))
