"""The chapters as the book publishes them: executed notebooks that a reader can run anywhere.

A Sphinx extension of the book (listed in _config.yml). The book theme's download button offers
each chapter's executed notebook, `_sources/notebooks/<chapter>.ipynb`, and its Binder and Colab
buttons open that notebook from the branch that the workflow publishes it to (NOTEBOOKS_BRANCH).
This extension

- fills in the repository for those buttons when _config.yml leaves `repository.url` empty:
  GitHub Actions' $GITHUB_SERVER_URL/$GITHUB_REPOSITORY, else `git remote get-url origin`, so
  that a fork's book points at the fork;
- points those buttons at the chapter's .ipynb where the theme would name its .md source;
- makes the first cell of each published notebook install this package, fmnist_lib, at the
  commit that built the book, wherever the package is missing (in Colab, say). Elsewhere the
  cell does nothing, and the notebook finds or fetches the data as the package always does.
"""

import copy
import importlib.metadata
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import nbformat

__all__ = [
    "COLAB_PYTHON",
    "INSTALL_CELL_KEY",
    "NOTEBOOKS_BRANCH",
    "PACKAGE",
    "add_install_cell",
    "install_cell",
    "repository_url",
]

PACKAGE = "fmnist_lib"
# The Python of Colab's default runtime since August 2026 (googlecolab/colabtools#6081), where the
# install cell runs: pyproject.toml's requires-python must admit it (a test checks).
COLAB_PYTHON = "3.13"
# The branch the workflow pushes the executed chapters to (.github/workflows/book.yml).
NOTEBOOKS_BRANCH = "notebooks"
# The metadata key that marks the install cell, so that it is added once.
INSTALL_CELL_KEY = "fmnist_lib_install"
GIT_URL = re.compile(r"^(?:https://|git@)(?P<host>[^/:]+)[/:](?P<path>.+?)(?:\.git)?/?$")


def repository_url(folder: Path | None = None) -> str | None:
    """The https URL of the book's repository, from GitHub Actions or git's `origin`; or None."""
    server, repository = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    if server and repository:
        return f"{server.rstrip('/')}/{repository}"
    origin = _git(folder, "remote", "get-url", "origin")
    match = GIT_URL.match(origin) if origin else None
    return f"https://{match['host']}/{match['path']}" if match else None


def commit(folder: Path | None = None) -> str | None:
    """The commit being built: GitHub Actions' $GITHUB_SHA, else git's HEAD; or None."""
    return os.environ.get("GITHUB_SHA") or _git(folder, "rev-parse", "HEAD")


def _git(folder: Path | None, *args: str) -> str | None:
    """What `git *args` prints in `folder`, stripped; None when git is missing or fails."""
    try:
        return subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def install_cell(repository: str | None, revision: str | None) -> nbformat.NotebookNode:
    """The notebook's first cell: install fmnist_lib from the repository at a revision, if it
    is missing; without a repository or revision, say how to install it instead."""
    version = importlib.metadata.version(PACKAGE)
    if repository and revision:
        action = f'    %pip install --quiet "{PACKAGE} @ git+{repository}@{revision}"'
    else:
        action = (
            f'    raise ModuleNotFoundError("this notebook needs {PACKAGE} {version}: '
            f"pip install a checkout of the book's repository\")"
        )
    source = "\n".join(
        [
            f"# The code of this book is the package {PACKAGE} ({version}). Where it is missing",
            "# (in Colab, say), this cell installs the version that built the book.",
            "import importlib.util",
            "",
            f'if importlib.util.find_spec("{PACKAGE}") is None:',
            action,
        ]
    )
    return nbformat.v4.new_code_cell(source, metadata={INSTALL_CELL_KEY: True})


def add_install_cell(notebook: Path, cell: nbformat.NotebookNode) -> bool:
    """Put the install cell first in a notebook file, once; True if the file changed."""
    content = nbformat.read(notebook, as_version=4)
    if content.cells and content.cells[0].metadata.get(INSTALL_CELL_KEY):
        return False
    cell = copy.deepcopy(cell)
    if content.nbformat_minor < 5:  # cell ids came with nbformat 4.5
        cell.pop("id", None)
    content.cells.insert(0, cell)
    nbformat.write(content, notebook)
    return True


def _fill_repository(app: Any, config: Any) -> None:
    """config-inited: the repository URL for the launch buttons, when the config has none."""
    options = config.html_theme_options
    if not options.get("repository_url"):
        found = repository_url(Path(app.srcdir))
        if found:
            options["repository_url"] = found


def _launch_notebooks(
    app: Any, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """html-page-context, after the theme's launch buttons: Binder and Colab open the chapter's
    executed notebook (.ipynb, which the workflow publishes), not its MyST source (.md)."""
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group.get("buttons", []):
            if "url" in button:
                button["url"] = button["url"].replace(f"{pagename}.md", f"{pagename}.ipynb")


def _install_cells(app: Any, exception: Exception | None) -> None:
    """build-finished: the install cell first in every published notebook of the HTML build."""
    if exception is not None or app.builder.format != "html":
        return
    sources = Path(app.outdir) / "_sources"
    repository = app.config.html_theme_options.get("repository_url") or None
    cell = install_cell(repository, commit(Path(app.srcdir)))
    for docname in sorted(app.env.found_docs):
        notebook = sources / f"{docname}.ipynb"
        if notebook.is_file():
            add_install_cell(notebook, cell)


def setup(app: Any) -> dict[str, Any]:
    """Register the extension with Sphinx."""
    app.connect("config-inited", _fill_repository)
    app.connect("html-page-context", _launch_notebooks, priority=600)
    app.connect("build-finished", _install_cells)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
