"""Shared fixtures: the real dataset (installed by `make data`), an isolated results cache, and
the chapters executed once per session with their small parameters."""

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from test_notebooks import SmokeRuns
    from test_published_book import BookBuild

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


@pytest.fixture(scope="session")
def book_build(
    tmp_path_factory: pytest.TempPathFactory, smoke_runs: "SmokeRuns"
) -> "Iterator[Future[BookBuild]]":
    """The book assembled from the smoke-executed chapters and built, on a thread of its own,
    as soon as the chapters are done (test_published_book.py)."""
    from test_published_book import assemble_book, build_book

    folder = tmp_path_factory.mktemp("book")
    with ThreadPoolExecutor(1, thread_name_prefix="book-build") as pool:
        yield pool.submit(lambda: build_book(assemble_book(folder, smoke_runs)))


@pytest.fixture(scope="session")
def page_visits(book_build: "Future[BookBuild]") -> "Iterator[Future]":
    """Every page of the built book opened and checked in Chromium (test_published_book.py),
    VISIT_WORKERS pages side by side, when the book's tests begin (they run last). Not started
    first: VISIT_WORKERS browsers beside the unit tests and the kernels would oversubscribe the
    cores."""
    from test_published_book import visit_book

    with ThreadPoolExecutor(1, thread_name_prefix="page-visits") as pool:
        yield pool.submit(lambda: visit_book(book_build.result()))


@pytest.fixture(scope="session")
def binder_resolution(tmp_path_factory: pytest.TempPathFactory) -> "Iterator[Future]":
    """pip's dry-run resolution of Binder's environment (test_binder.py), on a thread of its own:
    it waits on the package index, not on the CPU."""
    from test_binder import resolve_binder_environment

    folder = tmp_path_factory.mktemp("binder")
    with ThreadPoolExecutor(1, thread_name_prefix="binder") as pool:
        yield pool.submit(resolve_binder_environment, folder)


# Session fixtures whose work starts before the first test when a selected test uses them.
STARTED_FIRST = ("book_build", "binder_resolution")


def uses(items: "Sequence[pytest.Item]", fixture: str) -> bool:
    """Whether a test among `items` uses `fixture`, directly or through another fixture."""
    return any(fixture in getattr(item, "fixturenames", ()) for item in items)


def pytest_collection_modifyitems(items: "list[pytest.Item]") -> None:
    """The tests of the built book last (the order otherwise kept), so that the book builds
    beside the other tests instead of while the session waits for it."""
    items.sort(key=lambda item: "published_book" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session", autouse=True)
def started_first(request: pytest.FixtureRequest) -> None:
    """Start the chapters, the book build and Binder's resolution that the session needs before
    its first test, so that they run beside the unit tests rather than after them (a session
    that needs none of them starts none)."""
    from test_notebooks import chapters_to_execute

    if chapters_to_execute(request.session.items):
        smoke_runs = request.getfixturevalue("smoke_runs")
        smoke_runs.start(smoke_runs.wanted)
    for fixture in STARTED_FIRST:
        if uses(request.session.items, fixture):
            request.getfixturevalue(fixture)
