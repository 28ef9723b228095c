"""Shared fixtures: the real dataset (installed by `make data`) and an isolated results cache."""

import os

import pytest

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
