"""fmnist_lib.chapters and the `execute` and `sweep` commands: names and values checked before
anything runs, values typed as papermill types them, glued scalars read back, `--help` listing a
chapter's parameters, and one sweep of the cheapest chapter (theory_softmax, small trials) on a
2-worker local Dask cluster."""

import contextlib
import csv
import io

import nbformat
import pandas as pd
import pytest
from papermill.cli import _resolve_type
from test_cli import run_cli
from test_notebooks import CHAPTERS

from fmnist_lib import chapter_params, chapters, cli, glue
from fmnist_lib.validation import ParameterError

CHEAP = "theory_softmax"
# Values outside a parameter's bounds are refused before the sweep starts; a data folder that is
# not there passes that check (it may be there on the workers) and fails in the chapter instead.
MISSING = "/nonexistent/fmnist-data"
SWEEP = (
    *("sweep", CHEAP, "-p", "n_trials", "10,20", "-p", "n_examples", "100"),
    *("-p", "data_dir", f"None,{MISSING}"),
)


def run_main(*args):
    """Run the command line in this process: (its exit status, the lines it wrote to stderr)."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            status = cli.main(list(args))
        except SystemExit as exit_:  # argparse's errors
            status = exit_.code
    return status, stderr.getvalue().strip().splitlines()


@pytest.fixture(scope="module")
def swept(tmp_path_factory, real_data_dir):
    """SWEEP run once through the command line: (its output folder, the completed process)."""
    folder = tmp_path_factory.mktemp("chapter-sweep") / "out"
    results = tmp_path_factory.mktemp("sweep-results")
    env = {"FMNIST_RESULTS_DIR": str(results), "FMNIST_SCHEDULER": ""}  # a local cluster
    return folder, run_cli(*SWEEP, "--out", str(folder), env=env)


@pytest.mark.parametrize("text", ["3", "-1", "0.5", "1e-3", "True", "False", "None", "abc", "a,b"])
def test_parse_value_types_a_value_as_papermills_p_does(text):
    assert chapters.parse_value(text) == _resolve_type(text)
    assert type(chapters.parse_value(text)) is type(_resolve_type(text))


def test_parse_values_splits_on_commas_and_yaml_gives_lists():
    assert chapters.parse_values("10, 2.5,None") == [10, 2.5, None]
    assert chapters.parse_yaml_value("[0, 1]") == [0, 1]
    with pytest.raises(ValueError, match="not a YAML value"):
        chapters.parse_yaml_value("[0")


def test_combinations_are_the_cartesian_product_in_order():
    grid = {"a": [1, 2], "b": ["x", "y"]}
    assert chapters.combinations(grid) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]


def test_chapters_are_the_notebooks_of_the_toc_and_unknown_ones_are_listed():
    assert chapters.chapter_names() == CHAPTERS  # the toc's chapters, as the smoke tests read it
    with pytest.raises(
        ValueError, match=r"unknown chapter 'cnn'; the chapters are: .*reproduction"
    ):
        chapters.chapter_source("cnn")


def test_unknown_parameter_is_rejected_by_plan_sweep_before_anything_runs(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"unknown parameter 'epoch' .* epochs, learning_rate"):
        chapters.plan_sweep("experiment_cnn", {"epoch": [2]}, out=out)
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["sweep", "experiment_cnn", "-p", "epoch", "1,2"], ["'epoch'", "epochs, learning_rate"]),
        (["execute", "experiment_cnn", "-p", "epoch", "2"], ["'epoch'", "epochs, learning_rate"]),
        (["execute", "cnn"], ["unknown chapter 'cnn'", "experiment_cnn"]),
        (["sweep", CHEAP, "-y", "seed", "[0"], ["-y seed: not a YAML value"]),
        (["execute", CHEAP, "-p", "seed", "1", "-p", "seed", "2"], ["seed given more than one"]),
    ],
)
def test_a_bad_request_exits_2_with_one_line_before_anything_runs(args, fragments, tmp_path):
    out = tmp_path / "out"
    where = ["--out", str(out)] if args[0] == "sweep" else ["-o", str(out / "run.ipynb")]
    status, lines = run_main(*args, *where)
    assert status == 2 and len(lines) == 1, lines
    assert all(fragment in lines[0] for fragment in fragments), lines[0]
    assert not out.exists()


def no_kernel(*args, **kwargs):
    """Stands in for `chapters.execute_notebook` where no chapter may start."""
    raise AssertionError("a chapter was started")


def test_a_bad_value_is_refused_by_the_chapters_api_before_any_kernel_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(chapters, "execute_notebook", no_kernel)
    bounds = r"n_trials must be an integer in \[10, 100000\], got 0 \(int\); n_trials: random"
    with pytest.raises(ParameterError, match=bounds):
        chapters.execute_chapter(CHEAP, {"n_trials": 0}, tmp_path / "run.ipynb")
    with pytest.raises(ParameterError, match=r"seed must be an integer in \[0, \d+\], got True"):
        chapters.plan_sweep(CHEAP, {"n_trials": [10, 20], "seed": [0, True]}, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["execute", CHEAP, "-p", "n_trials", "0"], ["n_trials must be an integer in [10, 100000"]),
        (["sweep", CHEAP, "-p", "n_trials", "10,0"], ["got 0 (int); n_trials: random score"]),
        (["execute", "reproduction", "-y", "seeds", "[0, 0]"], ["seeds must be", "a seed repeats"]),
        (["sweep", "modern_cnn", "-p", "train_subset", "100"], ["train_subset", "[128, 55000]"]),
        (["execute", "experiment_cnn", "-p", "batch_size", "True"], ["got True (bool)"]),
    ],
)
def test_a_bad_value_exits_2_naming_the_parameter_and_its_bounds_before_any_kernel(
    args, fragments, tmp_path, monkeypatch
):
    monkeypatch.setattr(chapters, "execute_notebook", no_kernel)
    out = tmp_path / "out"
    where = ["--out", str(out)] if args[0] == "sweep" else ["-o", str(out / "run.ipynb")]
    process = run_cli(*args, *where)
    lines = process.stderr.strip().splitlines()
    assert process.returncode == 2 and len(lines) == 1, process.stderr
    assert all(fragment in lines[0] for fragment in fragments), lines[0]
    assert not out.exists()


@pytest.mark.parametrize("command", ["execute", "sweep"])
def test_help_after_a_chapter_lists_its_parameters_with_meaning_and_bounds(command):
    process = run_cli(command, CHEAP, "--help")
    assert process.returncode == 0, process.stderr
    usage, listing = process.stdout.split(f"parameters of {CHEAP}")
    assert usage.startswith(f"usage: python -m fmnist_lib {command}")
    for parameter in chapter_params.parameters_of(CHEAP):
        assert parameter.name in listing and parameter.meaning in listing
        assert chapter_params.expected(parameter) in listing
    assert "an integer in [10, 100000]" in listing  # n_trials


def test_help_without_a_chapter_says_how_to_list_one_and_an_unknown_chapter_is_refused():
    process = run_cli("execute", "--help")
    assert process.returncode == 0
    assert "to list a chapter's parameters: python -m fmnist_lib execute CHAPTER --help" in (
        process.stdout
    )
    refused = run_cli("sweep", "cnn", "-h")
    assert refused.returncode == 2 and "unknown chapter 'cnn'" in refused.stderr


def test_a_sweep_into_a_folder_that_holds_files_is_refused(tmp_path):
    (tmp_path / "earlier.ipynb").write_text("{}")
    status, lines = run_main("sweep", CHEAP, "-p", "n_trials", "10", "--out", str(tmp_path))
    assert status == 2 and len(lines) == 1 and "is not empty" in lines[0], lines
    assert [path.name for path in tmp_path.iterdir()] == ["earlier.ipynb"]


def test_glued_scalars_reads_back_what_myst_nb_glue_writes(monkeypatch):
    """Outputs recorded as the kernel records myst_nb.glue's display call, then read back."""
    import myst_nb.ext.glue

    outputs = []

    def record(bundle, raw, metadata):
        outputs.append(nbformat.v4.new_output("display_data", data=bundle, metadata=metadata))

    monkeypatch.setattr(myst_nb.ext.glue, "ipy_display", record)
    glue.glue_values(accuracy=0.875, count=12)  # numbers only: a name would import Keras
    myst_nb.ext.glue.glue("best", "Shirt", display=False)
    myst_nb.ext.glue.glue("shown", 3.5, display=True)
    myst_nb.ext.glue.glue("table", pd.DataFrame({"a": [1]}), display=False)
    outputs.append(nbformat.v4.new_output("display_data", data={"text/plain": "7"}))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=outputs)])
    glued = chapters.glued_scalars(nbformat.writes(notebook))
    assert glued == {"accuracy": 0.875, "count": 12, "best": "Shirt", "shown": 3.5}
    assert list(glued) == ["accuracy", "count", "best", "shown"]


def test_sweep_writes_a_notebook_per_combination_and_a_table_of_glued_scalars(swept):
    folder, process = swept
    assert {path.name for path in folder.iterdir()} == {
        f"{CHEAP}-1.ipynb",
        f"{CHEAP}-2.failed.ipynb",
        f"{CHEAP}-3.ipynb",
        f"{CHEAP}-4.failed.ipynb",
        "sweep.csv",
    }
    with open(folder / "sweep.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["n_trials"], row["data_dir"]) for row in rows] == [
        ("10", ""),
        ("10", MISSING),
        ("20", ""),
        ("20", MISSING),
    ]
    columns = ["n_trials", "n_examples", "data_dir", "example_top"]  # then glued scalars
    assert list(rows[0])[:4] == columns
    assert list(rows[0])[-2:] == ["error", "notebook"]
    for index in (0, 2):
        assert rows[index]["error"] == ""
        assert rows[index]["notebook"] == str(folder / f"{CHEAP}-{index + 1}.ipynb")
        assert 0 < float(rows[index]["example_top"]) < 1  # glued by the chapter
    assert rows[0]["n_pairs"] != rows[2]["n_pairs"]  # a glued count that follows n_trials
    header, *lines = process.stdout.strip().splitlines()
    assert header.split()[:4] == columns
    assert len(lines) == 5 and lines[-1] == f"table: {folder / 'sweep.csv'}"


def test_sweep_fails_only_the_combinations_the_chapter_fails_with_its_message(swept):
    folder, process = swept
    assert process.returncode == 1, process.stderr
    table = pd.read_csv(folder / "sweep.csv", keep_default_na=False)
    failed = table[table["error"] != ""]
    assert list(failed["data_dir"]) == [MISSING, MISSING]
    assert all(error.startswith(f"DataError: data folder {MISSING}") for error in failed["error"])
    assert (failed["raw_largest_score"] == "").all()  # the first number glued from the data
    progress = [line for line in process.stderr.splitlines() if line.startswith(f"{CHEAP} ")]
    assert len(progress) == 4  # one line per combination
    assert process.stderr.strip().splitlines()[-1].endswith("2 of 4 combinations failed")
