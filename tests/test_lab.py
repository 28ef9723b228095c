"""`make lab`: JupyterLab serves each chapter (.md) as a notebook and saves it back as MyST.

A module fixture starts the real `make lab` (its LAB_ARGS add a free localhost port, a token,
no browser and a root folder holding a copy of notebooks/, so that the test never writes into
the project) and asks the server's REST API what a reader's browser asks: the settings that
pick the viewer of a double click, a chapter's contents as a notebook, and a save.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jupytext
import pytest
from test_notebooks import CHAPTERS, NOTEBOOKS, ROOT

STARTUP_TIMEOUT_S = 120
JUPYTEXT_VIEWER = "Jupytext Notebook"
DOCMANAGER_SETTINGS = "@jupyterlab/docmanager-extension:plugin"


@dataclass(frozen=True)
class Lab:
    """A running `make lab`: its base URL, its token and the root folder it serves."""

    url: str
    token: str
    root: Path


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(lab: Lab, path: str, method: str = "GET", body: Any = None) -> Any:
    """Call the server's REST API with the token and return the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    call = urllib.request.Request(f"{lab.url}{path}", data=data, method=method)
    call.add_header("Authorization", f"token {lab.token}")
    call.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(call, timeout=60) as answer:
        return json.loads(answer.read() or b"null")


def lab_command(port: int, token: str, root: Path) -> list[str]:
    """`make lab` as a reader runs it, with LAB_ARGS for a headless, private, test server.

    `-o` keeps make from reinstalling the lab extra: `make test` has installed it (dev has it).
    """
    options = [
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        *(["--allow-root"] if os.geteuid() == 0 else []),  # Jupyter refuses root otherwise
    ]
    keep = ["-o", ".venv/.installed-lab"]
    return ["make", "--no-print-directory", *keep, "lab", f"LAB_ARGS={' '.join(options)}"]


def private_environment(folder: Path) -> dict[str, str]:
    """This environment with Jupyter's per-user folders moved into folder (no ~/.jupyter)."""
    names = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "user-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
    }
    return {**os.environ, **{name: str(folder / sub) for name, sub in names.items()}}


def wait_until_ready(lab: Lab, process: subprocess.Popen, log: Path) -> None:
    """Poll /api/status until the server answers; fail with its log if it exits or hangs."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make lab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            request(lab, "/api/status")
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    pytest.fail(f"make lab did not answer in {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    """Stop make and the server it started (one process group), politely first."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """`make lab` serving a copy of notebooks/ on localhost; stopped after the module."""
    root = tmp_path_factory.mktemp("lab-root")
    shutil.copytree(NOTEBOOKS, root / "notebooks", ignore=shutil.ignore_patterns("*.ipynb*"))
    home = tmp_path_factory.mktemp("lab-home")
    port, token = free_port(), os.urandom(16).hex()
    server = Lab(f"http://127.0.0.1:{port}", token, root)
    log = home / "lab.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            lab_command(port, token, root),
            cwd=ROOT,
            env=private_environment(home),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_ready(server, process, log)
        yield server
    finally:
        stop(process)


def notebook_of(lab: Lab, chapter: str) -> dict:
    """The chapter as JupyterLab's notebook editor asks for it."""
    return request(lab, f"/api/contents/notebooks/{chapter}.md?type=notebook&content=1")


def code_sources(cells: list[dict]) -> list[str]:
    """The sources of the code cells, in order."""
    return [cell["source"] for cell in cells if cell["cell_type"] == "code"]


def parameters_index(cells: list[dict]) -> int | None:
    """The position among the code cells of the one tagged `parameters`, if any."""
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    tagged = [i for i, cell in enumerate(code) if "parameters" in cell["metadata"].get("tags", [])]
    return tagged[0] if tagged else None


def test_a_double_click_opens_markdown_and_myst_as_a_jupytext_notebook(lab):
    settings = request(lab, f"/lab/api/settings/{DOCMANAGER_SETTINGS}")
    # The browser composes the schema's defaults (where overrides land) with the user's settings.
    viewers = {
        **settings["schema"]["properties"]["defaultViewers"]["default"],
        **settings["settings"].get("defaultViewers", {}),
    }
    assert viewers.get("markdown") == JUPYTEXT_VIEWER, viewers
    assert viewers.get("myst") == JUPYTEXT_VIEWER, viewers


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_opens_as_a_notebook_with_the_chapters_cells(lab, chapter):
    model = notebook_of(lab, chapter)
    assert (model["type"], model["format"]) == ("notebook", "json")
    expected = jupytext.read(lab.root / "notebooks" / f"{chapter}.md")
    cells = model["content"]["cells"]
    assert len(cells) == len(expected.cells)
    assert code_sources(cells) == code_sources(expected.cells)
    assert parameters_index(cells) is not None, f"{chapter}: no code cell tagged parameters"
    assert parameters_index(cells) == parameters_index(expected.cells)
    assert model["content"]["metadata"]["kernelspec"]["name"] == "python3"


def test_saving_a_chapter_writes_myst_markdown_back_to_its_md_file(lab):
    chapter = CHAPTERS[0]
    path = lab.root / "notebooks" / f"{chapter}.md"
    model = notebook_of(lab, chapter)
    first_code = next(cell for cell in model["content"]["cells"] if cell["cell_type"] == "code")
    first_code["source"] += "\n# edited in JupyterLab"
    saved = request(
        lab,
        f"/api/contents/notebooks/{chapter}.md",
        method="PUT",
        body={"type": "notebook", "format": "json", "content": model["content"]},
    )
    assert saved["path"] == f"notebooks/{chapter}.md"
    text = path.read_text(encoding="utf-8")
    assert "format_name: myst" in text
    assert "```{code-cell} ipython3" in text
    assert "# edited in JupyterLab" in code_sources(jupytext.read(path).cells)[0]
    assert not list(path.parent.glob("*.ipynb")), "saving wrote an .ipynb next to the chapter"
