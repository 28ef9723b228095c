"""Every chapter runs through papermill with small parameters; bad parameters fail clearly."""

import subprocess
import sys
from pathlib import Path

import papermill
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.md"))

# Small parameters per chapter, so that each smoke run takes seconds, not minutes.
SMOKE_PARAMETERS = {
    "data_exploration": {"examples_per_class": 2, "seed": 1},
    "theory_perceptrons": {"epochs": 1, "train_subset": 5000, "perceptron_subset": 2000},
    "theory_softmax": {"n_trials": 50, "n_examples": 100},
    "theory_cross_entropy": {
        "n_examples": 64,
        "n_trials": 50,
        "n_train": 500,
        "epochs": 1,
        "n_points": 11,
    },
    "theory_convolution": {"n_random_checks": 3, "image_index": 0},
}
# A bad value per chapter and the words its error message must contain.
BAD_PARAMETERS = {
    "data_exploration": ({"examples_per_class": -3}, "examples_per_class"),
    "theory_perceptrons": ({"epochs": -1}, "epochs"),
    "theory_softmax": ({"n_trials": 0}, "n_trials"),
    "theory_cross_entropy": ({"epochs": -1}, "epochs"),
    "theory_convolution": ({"image_index": 60000}, "image_index"),
}


def to_ipynb(source: Path, folder: Path) -> Path:
    """Convert a Jupytext MyST notebook to a temporary .ipynb, as a reader would."""
    target = folder / f"{source.stem}.ipynb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jupytext",
            "--quiet",
            "--to",
            "ipynb",
            str(source),
            "-o",
            str(target),
        ],
        check=True,
    )
    return target


def test_every_chapter_has_smoke_and_bad_parameters():
    names = {path.stem for path in NOTEBOOKS}
    assert names, "no chapters found"
    assert names == set(SMOKE_PARAMETERS) == set(BAD_PARAMETERS)


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda path: path.stem)
def test_chapter_runs_with_small_parameters(source, tmp_path, real_data_dir):
    notebook = to_ipynb(source, tmp_path)
    papermill.execute_notebook(
        str(notebook),
        str(tmp_path / "out.ipynb"),
        parameters=SMOKE_PARAMETERS[source.stem],
        cwd=str(source.parent),
        kernel_name="python3",
        progress_bar=False,
    )


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda path: path.stem)
def test_chapter_with_a_bad_parameter_fails_naming_it(source, tmp_path, real_data_dir):
    notebook = to_ipynb(source, tmp_path)
    parameters, fragment = BAD_PARAMETERS[source.stem]
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(
            str(notebook),
            str(tmp_path / "out.ipynb"),
            parameters=parameters,
            cwd=str(source.parent),
            kernel_name="python3",
            progress_bar=False,
        )
    assert failure.value.ename == "ParameterError"
    assert fragment in failure.value.evalue
    # It stops in the cell right after the injected parameters, before any real work.
    assert failure.value.exec_count <= 3
