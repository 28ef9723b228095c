"""published_notebooks: the repository the book points at, the install cell, the launch links."""

import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from packaging.specifiers import SpecifierSet

from fmnist_lib import published_notebooks
from fmnist_lib.published_notebooks import (
    INSTALL_CELL_KEY,
    PACKAGE,
    add_install_cell,
    install_cell,
    repository_url,
)

REPOSITORY = "https://github.com/readers/fmnist-book"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def outside_actions(monkeypatch):
    """No GitHub Actions variables."""
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)


def git_folder(path, origin: str | None):
    """A git repository in path, with the given origin remote (or none)."""
    subprocess.run(["git", "init", "--quiet", str(path)], check=True)
    if origin:
        subprocess.run(["git", "-C", str(path), "remote", "add", "origin", origin], check=True)
    return path


def test_repository_comes_from_github_actions_first(monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "readers/fmnist-book")
    folder = git_folder(tmp_path, "https://example.org/other/repo.git")
    assert repository_url(folder) == REPOSITORY


@pytest.mark.parametrize(
    "origin",
    [
        "git@github.com:readers/fmnist-book.git",
        "https://github.com/readers/fmnist-book.git",
        "https://github.com/readers/fmnist-book",
    ],
)
def test_repository_comes_from_git_origin_as_an_https_url(outside_actions, tmp_path, origin):
    assert repository_url(git_folder(tmp_path, origin)) == REPOSITORY


def test_no_repository_without_actions_or_origin(outside_actions, tmp_path):
    assert repository_url(git_folder(tmp_path, None)) is None


def test_install_cell_installs_the_package_at_the_commit_only_where_it_is_missing():
    cell = install_cell(REPOSITORY, COMMIT)
    assert cell.metadata[INSTALL_CELL_KEY] is True
    assert f'if importlib.util.find_spec("{PACKAGE}") is None:' in cell.source
    assert f'%pip install --quiet "{PACKAGE} @ git+{REPOSITORY}@{COMMIT}"' in cell.source
    compile(TransformerManager().transform_cell(cell.source), "install cell", "exec")


def test_install_cell_without_a_repository_says_how_to_install_instead():
    cell = install_cell(None, COMMIT)
    assert "%pip" not in cell.source
    assert "raise ModuleNotFoundError" in cell.source
    compile(cell.source, "install cell", "exec")


@pytest.mark.parametrize("minor", [4, 5])
def test_install_cell_goes_first_once_and_the_notebook_stays_valid(tmp_path, minor):
    notebook = tmp_path / "chapter.ipynb"
    content = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    content.nbformat_minor = minor
    if minor < 5:
        content.cells[0].pop("id")
    nbformat.write(content, notebook)
    cell = install_cell(REPOSITORY, COMMIT)
    assert add_install_cell(notebook, cell) is True
    assert add_install_cell(notebook, cell) is False
    written = nbformat.read(notebook, as_version=4)
    nbformat.validate(written)
    assert [c.source for c in written.cells] == [cell.source, "x = 1"]


def test_launch_buttons_open_the_notebook_instead_of_the_markdown_source():
    page = "notebooks/theory_softmax"
    binder = f"https://mybinder.org/v2/gh/r/b/notebooks?urlpath=lab/tree/{page}.md"
    download = f"../_sources/{page}.md"
    context = {
        "header_buttons": [
            {"label": "download-buttons", "buttons": [{"url": download}]},
            {"label": "launch-buttons", "buttons": [{"url": binder}, {"text": "no url"}]},
        ]
    }
    published_notebooks._launch_notebooks(None, page, "page.html", context, None)
    download_group, launch_group = context["header_buttons"]
    assert download_group["buttons"] == [{"url": download}]
    assert launch_group["buttons"][0]["url"] == binder.removesuffix(".md") + ".ipynb"
    assert launch_group["buttons"][1] == {"text": "no url"}


def test_the_package_admits_colabs_python_and_the_one_of_this_machine():
    """Colab's install cell would be refused on a Python that requires-python excludes."""
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    required = SpecifierSet(tomllib.loads(pyproject.read_text())["project"]["requires-python"])
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert required.contains(published_notebooks.COLAB_PYTHON) and required.contains(here)
