"""Shared fixtures: the real dataset (installed by `make data`), an isolated results cache, and
the chapters executed once per session with their small parameters."""

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from test_notebooks import SmokeRuns

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Chapters executed side by side, one per CPU core and at most four (a kernel takes ~1 GB).
SMOKE_WORKERS = max(1, min(4, os.cpu_count() or 1))


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
def smoke_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, real_data_dir: Path
) -> "Iterator[SmokeRuns]":
    """The chapters run by papermill with their SMOKE_PARAMETERS, each once per session.

    `smoke_runs.executed(chapter)` is the executed `<chapter>.ipynb` in a session temporary
    folder; the chapter list and the parameters live in tests/test_notebooks.py. The first
    request starts every chapter the selected tests need, SMOKE_WORKERS at a time (a kernel is
    a process of its own). The kernels cache their small training runs in a session folder,
    not in the project's results/.
    """
    from test_notebooks import SmokeRuns, chapters_to_execute

    wanted = chapters_to_execute(request.session.items)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FMNIST_RESULTS_DIR", str(tmp_path_factory.mktemp("smoke-results")))
        pool = ThreadPoolExecutor(SMOKE_WORKERS, thread_name_prefix="smoke-run")
        try:
            yield SmokeRuns(tmp_path_factory.mktemp("smoke"), pool, wanted)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread() -> "Iterator[None]":
    """BLAS on one thread in the test process: the chapters' kernels run beside the tests, and
    OpenBLAS's waiting threads spin, which made a small logistic regression 7x slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="session", autouse=True)
def chapters_started_first(request: pytest.FixtureRequest) -> None:
    """Start the chapters the session needs before its first test, so that their kernels run
    beside the unit tests rather than after them (a session without chapter tests starts none).
    """
    from test_notebooks import chapters_to_execute

    if chapters_to_execute(request.session.items):
        smoke_runs = request.getfixturevalue("smoke_runs")
        smoke_runs.start(smoke_runs.wanted)
