"""Every chapter of the table of contents runs once through papermill with small parameters.

The chapters are the `notebooks/` entries of _toc.yml. The `smoke_runs` fixture (conftest.py)
executes each of them at most once per session, side by side on a pool of one worker per CPU
core (each kernel is a process of its own); the published-book tests reuse those runs.
"""

import contextlib
import re
import threading
from collections.abc import Iterable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import jupytext
import nbformat
import papermill
import pytest
import yaml
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from fmnist_lib import chapter_params

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
KERNEL = "python3"

# Small parameters per chapter, so that each smoke run takes seconds, not minutes.
SMOKE_PARAMETERS = {
    "data_exploration": {"examples_per_class": 2, "seed": 1},
    "theory_perceptrons": {"perceptron_subset": 2000},
    "theory_softmax": {"n_trials": 50, "n_examples": 100},
    "theory_cross_entropy": {
        "n_examples": 64,
        "n_trials": 50,
        "n_train": 500,
        "epochs": 1,
        "n_points": 11,
    },
    "theory_backprop": {"epochs": 1, "train_subset": 5000},
    "theory_convolution": {"n_random_checks": 3, "image_index": 0},
    "experiment_mlp": {"epochs": 1, "train_subset": 2000},
    "experiment_cnn": {"epochs": 1, "train_subset": 2000},
    "reproduction": {
        "seeds": [0],
        "epochs_mlp": 1,
        "epochs_cnn": 1,
        "train_subset": 2000,
        "baseline_subset": 2000,
        "thread_seeds": [0],
    },
    "calibration": {"seeds": [0], "epochs_mlp": 1, "epochs_cnn": 1, "train_subset": 2000},
    "tuning_claims": {"seeds": [0], "epochs_mlp": 1, "epochs_cnn": 1, "train_subset": 200},
    "modern_cnn": {
        "seeds": [0],
        "epochs": 1,
        "train_subset": 256,
        "ablations": ["modern-cnn-no-flip"],
        "ablation_epochs": 1,
        "ablation_subset": 256,
        "epochs_cnn": 1,
        "epochs_mlp": 1,
        "robustness_images": 100,
    },
    "speed": {
        "n_images": 256,
        "rounds": 1,
        "batch_sizes": [64],
        "matmul_size": 256,
        "thread_models": [],  # subprocesses take seconds each; tests/test_bench.py runs them
        "seeds": [0],
        "epochs_override": 1,
        "train_subset": 256,
    },
}
# A bad value per chapter and the words its error message must contain.
BAD_PARAMETERS = {
    "data_exploration": ({"examples_per_class": -3}, "examples_per_class"),
    "theory_perceptrons": ({"perceptron_max_epochs": 0}, "perceptron_max_epochs"),
    "theory_softmax": ({"n_trials": 0}, "n_trials"),
    "theory_cross_entropy": ({"epochs": -1}, "epochs"),
    "theory_backprop": ({"epochs": -1}, "epochs"),
    "theory_convolution": ({"image_index": 60000}, "image_index"),
    "experiment_mlp": ({"epochs": -1}, "epochs"),
    "experiment_cnn": ({"epochs": -1}, "epochs"),
    "reproduction": ({"seeds": [0, 0]}, "seeds"),
    "calibration": ({"n_bins": 1}, "n_bins"),
    "tuning_claims": ({"train_subset": 50}, "train_subset"),
    "modern_cnn": ({"ablations": ["modern-cnn-no-such"]}, "ablations"),
    "speed": ({"batch_sizes": [0]}, "batch_sizes"),
}
PARAMETER_TABLES = {"SMOKE_PARAMETERS": SMOKE_PARAMETERS, "BAD_PARAMETERS": BAD_PARAMETERS}


def toc_entries(node: Any) -> list[str]:
    """Every `file` entry of a table of contents, at any depth, in reading order."""
    if isinstance(node, list):
        return [entry for item in node for entry in toc_entries(item)]
    if not isinstance(node, dict):
        return []
    own = [node["file"]] if "file" in node else []
    return own + [entry for value in node.values() for entry in toc_entries(value)]


def document_name(entry: str) -> str:
    """A toc entry without the suffix that jb-book allows: `notebooks/x.md` -> `notebooks/x`."""
    return re.sub(r"\.(md|ipynb|rst)$", "", entry)


def toc_documents() -> list[str]:
    """The book's documents in reading order: the toc's root, then each `file` entry."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [document_name(entry) for entry in [toc["root"], *toc_entries(toc)]]


def toc_chapters() -> list[str]:
    """The stems of the toc's documents that live in notebooks/: the executable chapters."""
    paths = [PurePosixPath(document) for document in toc_documents()]
    return [path.name for path in paths if path.parent == PurePosixPath("notebooks")]


CHAPTERS = toc_chapters()


def smoke_parameters(chapter: str) -> dict[str, Any]:
    """The chapter's SMOKE_PARAMETERS; a chapter without an entry fails with a clear message."""
    if chapter not in SMOKE_PARAMETERS:
        pytest.fail(f"chapter {chapter!r} has no SMOKE_PARAMETERS entry in tests/test_notebooks.py")
    return SMOKE_PARAMETERS[chapter]


def bad_parameters(chapter: str) -> tuple[dict[str, Any], str]:
    """The chapter's BAD_PARAMETERS; a chapter without an entry fails with a clear message."""
    if chapter not in BAD_PARAMETERS:
        pytest.fail(f"chapter {chapter!r} has no BAD_PARAMETERS entry in tests/test_notebooks.py")
    return BAD_PARAMETERS[chapter]


def to_ipynb(source: Path, target: Path) -> Path:
    """Convert a Jupytext MyST notebook to an .ipynb file, as `jupytext --to ipynb` does."""
    jupytext.write(jupytext.read(source), target, fmt="ipynb")
    return target


def execute(notebook: Path, output: Path, parameters: dict[str, Any]) -> None:
    """Run a notebook with papermill from notebooks/, where the chapters run in the book."""
    papermill.execute_notebook(
        str(notebook),
        str(output),
        parameters=parameters,
        cwd=str(NOTEBOOKS),
        kernel_name=KERNEL,
        progress_bar=False,
    )


# The session fixture that builds the book from every executed chapter (test_published_book.py).
BOOK_FIXTURE = "published_book"


@dataclass
class SmokeRuns:
    """The chapters executed with their SMOKE_PARAMETERS, each at most once, on a worker pool.

    The first time a chapter is asked for, every chapter in `wanted` is started as well (the
    asked one first), so that the pool's workers run them side by side while the tests wait.
    """

    folder: Path
    pool: Executor = field(repr=False)
    wanted: list[str] = field(default_factory=list)
    runs: dict[str, Future] = field(default_factory=dict, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def source(self, chapter: str) -> Path:
        """The chapter converted to `sources/<chapter>.ipynb`, converted once."""
        target = self.folder / "sources" / f"{chapter}.ipynb"
        with self.lock:
            if not target.exists():
                target.parent.mkdir(exist_ok=True)
                to_ipynb(NOTEBOOKS / f"{chapter}.md", target)
        return target

    def executed(self, chapter: str) -> Path:
        """The papermill output `executed/<chapter>.ipynb`; a failed run raises its error again."""
        smoke_parameters(chapter)  # fails the asking test for a chapter without an entry
        self.start([chapter, *self.wanted])
        return self.runs[chapter].result()

    def start(self, chapters: Iterable[str]) -> None:
        """Submit each chapter that has not been submitted yet, in the given order."""
        for chapter in chapters:
            if chapter not in self.runs and chapter in SMOKE_PARAMETERS:
                self.runs[chapter] = self.pool.submit(self.run, chapter)

    def run(self, chapter: str) -> Path:
        """Execute the chapter into `executed/<chapter>.ipynb` (on a worker) and return it."""
        target = self.folder / "executed" / f"{chapter}.ipynb"
        target.parent.mkdir(exist_ok=True)
        execute(self.source(chapter), target, SMOKE_PARAMETERS[chapter])
        return target


def chapters_to_execute(items: Iterable[pytest.Item]) -> list[str]:
    """The chapters the selected tests need executed, in toc order.

    Every chapter when a selected test uses the built book; else the chapters whose smoke test
    (test_chapter_runs_with_small_parameters) is selected.
    """
    items = list(items)
    if any(BOOK_FIXTURE in item.fixturenames for item in items):
        return list(CHAPTERS)
    smoke_test = test_chapter_runs_with_small_parameters.__name__
    selected = {
        item.callspec.params["chapter"]
        for item in items
        if getattr(item, "originalname", None) == smoke_test and hasattr(item, "callspec")
    }
    return [chapter for chapter in CHAPTERS if chapter in selected]


def code_cells(notebook: Path) -> list[nbformat.NotebookNode]:
    """The code cells of a notebook file."""
    cells = nbformat.read(notebook, as_version=4).cells
    return [cell for cell in cells if cell.cell_type == "code"]


def ran(cell: nbformat.NotebookNode) -> bool:
    """True when the kernel executed the code cell (it has an execution count)."""
    return cell.execution_count is not None


def tags(cell: nbformat.NotebookNode) -> list[str]:
    """The tags of a notebook cell."""
    return cell.metadata.get("tags", [])


def test_toc_lists_chapters():
    """_toc.yml has at least one chapter under notebooks/."""
    assert CHAPTERS, "_toc.yml lists no file under notebooks/"


def test_every_notebook_file_is_a_chapter_of_the_toc():
    """Each notebooks/*.md is in _toc.yml, and each toc chapter has its notebooks/<name>.md."""
    files = {path.stem for path in NOTEBOOKS.glob("*.md")}
    chapters = set(CHAPTERS)
    assert not files - chapters, f"notebooks missing from _toc.yml: {sorted(files - chapters)}"
    assert not chapters - files, f"toc chapters without a .md file: {sorted(chapters - files)}"


def test_every_chapter_has_smoke_and_bad_parameters():
    """Each toc chapter has an entry in SMOKE_PARAMETERS and in BAD_PARAMETERS."""
    for table, entries in PARAMETER_TABLES.items():
        missing = [chapter for chapter in CHAPTERS if chapter not in entries]
        assert not missing, f"chapters without an entry in {table}: {missing}"


def test_parameter_tables_name_only_chapters_of_the_toc():
    """No stale entry: SMOKE_PARAMETERS and BAD_PARAMETERS name only chapters of the toc."""
    for table, entries in PARAMETER_TABLES.items():
        stale = sorted(set(entries) - set(CHAPTERS))
        assert not stale, f"{table} names chapters that are not in _toc.yml: {stale}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_smoke_parameters_pass_the_declarations_and_bad_ones_do_not(chapter):
    """Checked without a kernel, as `execute` and `sweep` check them (fmnist_lib.chapter_params):
    the smoke runs start, and the bad value is refused before any kernel, naming it."""
    chapter_params.check_parameters(chapter, smoke_parameters(chapter))
    parameters, fragment = bad_parameters(chapter)
    with pytest.raises(chapter_params.ParameterError, match=fragment):
        chapter_params.check_parameters(chapter, parameters)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_with_small_parameters(chapter, smoke_runs):
    """The chapter runs to the end with its SMOKE_PARAMETERS, every non-empty code cell executed."""
    cells = code_cells(smoke_runs.executed(chapter))
    skipped = [i for i, cell in enumerate(cells) if cell.source.strip() and not ran(cell)]
    assert not skipped, f"{chapter}: code cells {skipped} were not executed"


def run_to_the_check(notebook: Path, parameters: dict[str, Any]) -> tuple[int, int | None, Any]:
    """Run a chapter's code cells in this process from notebooks/, with `parameters` injected as
    papermill injects them, up to the cell after the injected one; stop at the first error.

    Returns (the injected cell's index, the index of the cell that raised or None, the error).
    The cells before the check only import and assign, so running them here costs no kernel.
    """
    notebook = parameterize_notebook(  # read as papermill reads it: every cell has tags
        load_notebook_node(str(notebook)), parameters, kernel_name=KERNEL, language="python"
    )
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    injected = next(i for i, cell in enumerate(cells) if "injected-parameters" in tags(cell))
    namespace: dict[str, Any] = {"__name__": "__main__"}
    with contextlib.chdir(NOTEBOOKS):
        for index, cell in enumerate(cells[: injected + 2]):
            try:
                exec(compile(cell.source, f"<code cell {index}>", "exec"), namespace)
            except Exception as error:
                return injected, index, error
    return injected, None, None


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_with_a_bad_parameter_fails_naming_it(chapter, smoke_runs):
    """A bad value stops the chapter with a ParameterError naming it, right after the parameters."""
    parameters, fragment = bad_parameters(chapter)
    injected, failed, error = run_to_the_check(smoke_runs.source(chapter), parameters)
    assert type(error).__name__ == "ParameterError", f"{chapter}: {error!r}"
    assert fragment in str(error)
    assert failed == injected + 1, f"{chapter}: failed in code cell {failed}, not {injected + 1}"


def test_papermill_stops_a_chapter_at_a_bad_parameter_in_the_cell_after_them(smoke_runs, tmp_path):
    """Through papermill and a kernel, as `execute` and the book run it: the run stops with the
    chapter's ParameterError in the cell after the injected parameters, and nothing after runs."""
    chapter = "theory_softmax"
    parameters, fragment = bad_parameters(chapter)
    output = tmp_path / f"{chapter}.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        execute(smoke_runs.source(chapter), output, parameters)
    assert failure.value.ename == "ParameterError"
    assert fragment in failure.value.evalue
    cells = code_cells(output)
    injected = next(i for i, cell in enumerate(cells) if "injected-parameters" in tags(cell))
    failed = [index for index, cell in enumerate(cells) if cell.metadata.papermill.get("exception")]
    assert failed == [injected + 1], f"{chapter}: failed in code cells {failed}, not {injected + 1}"
    assert not any(ran(cell) for cell in cells[injected + 2 :])
