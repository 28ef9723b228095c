"""The book's chapters as programs with parameters: check the names, execute, sweep a grid.

A chapter is a Jupytext MyST notebook `notebooks/<name>.md` listed in `_toc.yml`. It runs as
the book runs it: converted to `.ipynb` by jupytext, executed by papermill with the `python3`
kernel from `notebooks/`. Before anything runs, the parameter names are checked against
papermill's own `inspect_notebook` (papermill only warns about an unknown name, so a typo such
as `epoch` for `epochs` would silently run with the default), and so are the values, against
the chapter's declarations in `fmnist_lib.chapter_params`: a bad one is a `ParameterError` that
names the parameter, its bounds and its meaning before any kernel starts. The chapter checks
them again, against the same declarations, in the cell after its parameters (a run by papermill
or Jupyter alone).

A sweep runs a chapter once per combination of values on Dask workers (`fmnist_lib.runner`; each
combination is one task that returns the executed notebook, so the workers need the project but
no shared folder with the client) and reads back the scalars the chapter glues into its prose,
one row each.
"""

from __future__ import annotations

import ast
import csv
import functools
import itertools
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from fmnist_lib import chapter_params
from fmnist_lib.cache import project_root, write_atomically

if TYPE_CHECKING:  # nbformat takes seconds to import; the command line's --help need not wait
    import nbformat
    from distributed import Future

    from fmnist_lib.runner import Tick

KERNEL = "python3"
TABLE_NAME = "sweep.csv"


def _toc_files(node: object) -> list[str]:
    """Every `file` entry of a table of contents, at any depth, in reading order."""
    if isinstance(node, list):
        return [entry for item in node for entry in _toc_files(item)]
    if not isinstance(node, dict):
        return []
    own = [str(node["file"])] if "file" in node else []
    return own + [entry for value in node.values() for entry in _toc_files(value)]


def chapter_names(root: Path | None = None) -> list[str]:
    """The chapters in reading order: the `notebooks/<name>` entries of `_toc.yml`."""
    root = project_root() if root is None else Path(root)
    toc_path = root / "_toc.yml"
    if not toc_path.is_file():
        raise ValueError(f"no _toc.yml in {root}; run from the book's folder")
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    names = [re.sub(r"\.(md|ipynb)$", "", entry) for entry in _toc_files(toc)]
    return [name.split("/", 1)[1] for name in names if name.startswith("notebooks/")]


def chapter_source(chapter: str, root: Path | None = None) -> Path:
    """The MyST file of a chapter of the toc; an unknown name raises, listing the chapters."""
    root = project_root() if root is None else Path(root)
    names = chapter_names(root)
    if chapter not in names:
        raise ValueError(f"unknown chapter {chapter!r}; the chapters are: {', '.join(names)}")
    return root / "notebooks" / f"{chapter}.md"


def parse_value(text: str) -> object:
    """A `-p` value typed as papermill types it: True, False, None, an int, a float, else text."""
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def parse_values(text: str) -> list[object]:
    """The comma-separated values of a sweep's `-p NAME V1,V2,...`, each typed by parse_value."""
    return [parse_value(part.strip()) for part in text.split(",")]


def parse_yaml_value(text: str) -> object:
    """A `-y NAME 'YAML'` value: one YAML value, such as the list `[0, 1]`."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        raise ValueError(f"not a YAML value: {text!r} ({problem})") from None


def notebook_of(chapter: str, root: Path | None = None) -> nbformat.NotebookNode:
    """The chapter as an `.ipynb` notebook, converted by jupytext."""
    import jupytext

    return jupytext.read(chapter_source(chapter, root))


def chapter_parameters(notebook: nbformat.NotebookNode) -> dict[str, dict[str, Any]]:
    """The parameters papermill's `inspect_notebook` finds in a notebook's parameters cell."""
    import nbformat
    import papermill

    with tempfile.TemporaryDirectory(prefix="fmnist-inspect-") as folder:
        path = Path(folder) / "chapter.ipynb"
        nbformat.write(notebook, path)
        return papermill.inspect_notebook(str(path))


def check_parameter_names(
    chapter: str, names: Iterable[str], notebook: nbformat.NotebookNode
) -> None:
    """Raise, naming the unknown ones and listing the known, unless every name is a parameter."""
    known = chapter_parameters(notebook)
    unknown = [name for name in dict.fromkeys(names) if name not in known]
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        raise ValueError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {listed} for chapter "
            f"{chapter}; its parameters are: {', '.join(known)}"
        )


@dataclass(frozen=True)
class Execution:
    """One papermill run of a chapter: the executed notebook (as JSON) and what failed, if any."""

    notebook: str
    error: str | None
    seconds: float


def quiet_kernel_manager() -> type:
    """A kernel manager whose kernels send their process's stderr (start-up logs) to /dev/null.

    TensorFlow's and ipykernel's start-up lines go there; what the cells print, stderr
    included, still reaches the notebook through the kernel's messages.
    """
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            await super().start_kernel(**{"stderr": subprocess.DEVNULL, **kw})

    return QuietKernelManager


def execute_notebook(
    notebook: nbformat.NotebookNode | str, parameters: Mapping[str, object]
) -> Execution:
    """Run a notebook with papermill from `notebooks/`; a failing cell is reported, not raised."""
    import nbformat
    import papermill

    if isinstance(notebook, str):
        notebook = nbformat.reads(notebook, as_version=4)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fmnist-execute-") as folder:
        output = Path(folder) / "executed.ipynb"
        error = None
        try:
            papermill.execute_notebook(
                notebook,
                str(output),
                parameters=dict(parameters),
                cwd=str(project_root() / "notebooks"),
                kernel_name=KERNEL,
                progress_bar=False,
                kernel_manager_class=quiet_kernel_manager(),
            )
        except papermill.PapermillExecutionError as failure:
            error = f"{failure.ename}: {' '.join(str(failure.evalue).split())}"
        if not output.is_file():  # papermill failed before it wrote anything (no kernel, ...)
            raise RuntimeError(f"papermill wrote no notebook ({error or 'no error reported'})")
        text = output.read_text(encoding="utf-8")
    return Execution(text, error, time.perf_counter() - started)


def failed_path(path: Path) -> Path:
    """Where a failed run's notebook is kept: `x.ipynb` -> `x.failed.ipynb`."""
    return Path(path).with_suffix(".failed.ipynb")


def save_execution(execution: Execution, path: Path) -> Path:
    """Write the executed notebook to `path`, or to `failed_path(path)` when the run failed."""
    path = Path(path if execution.error is None else failed_path(path))
    write_atomically(path, lambda partial: partial.write_text(execution.notebook, encoding="utf-8"))
    return path


def default_output(chapter: str) -> Path:
    """Where `execute` writes a chapter's notebook by default: `_build/executed/<chapter>.ipynb`."""
    return project_root() / "_build" / "executed" / f"{chapter}.ipynb"


def execute_chapter(
    chapter: str,
    parameters: Mapping[str, object],
    output: Path | None = None,
    report: Callable[[str], None] = print,
) -> tuple[Path, Execution]:
    """Check the names and values, run the chapter here (no cluster) and write its notebook;
    return both."""
    notebook = notebook_of(chapter)
    check_parameter_names(chapter, parameters, notebook)
    chapter_params.check_parameters(chapter, parameters)
    report(f"executing {chapter} with {describe_parameters(parameters)}")
    execution = execute_notebook(notebook, parameters)
    path = save_execution(execution, default_output(chapter) if output is None else output)
    return path, execution


def _scalar(text: str) -> object:
    """A glued value's text/plain form as a number, bool or string; None when it is not one."""
    text = re.sub(r"^np\.\w+\((.*)\)$", r"\1", text.strip())  # NumPy 2's repr: np.float64(0.5)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, int | float | str) else None


def glued_scalars(notebook: nbformat.NotebookNode | str) -> dict[str, object]:
    """The numbers and names a notebook glued (myst-nb's `glue`), by name, in order of gluing.

    A glued output carries `{"scrapbook": {"name", "mime_prefix"}}` metadata; its text/plain
    form is read back as a Python literal. Figures and tables (other MIME types) are skipped.
    """
    import nbformat

    if isinstance(notebook, str):
        notebook = nbformat.reads(notebook, as_version=4)
    values: dict[str, object] = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            record = output.get("metadata", {}).get("scrapbook")
            if not record or output.get("output_type") != "display_data":
                continue
            prefix = record.get("mime_prefix", "")
            bundle = {key.removeprefix(prefix): data for key, data in output["data"].items()}
            if set(bundle) != {"text/plain"}:
                continue
            value = _scalar(bundle["text/plain"])
            if value is not None:
                values[record["name"]] = value
    return values


def combinations(grid: Mapping[str, Iterable[object]]) -> list[dict[str, object]]:
    """Every combination of the grid's values (cartesian product), the last name varying fastest."""
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]


def describe_parameters(parameters: Mapping[str, object]) -> str:
    """Parameters as `name=value` pairs for progress lines and messages."""
    return ", ".join(f"{name}={value!r}" for name, value in parameters.items()) or "defaults"


def table_rows(
    combos: list[dict[str, object]], executions: Mapping[int, Execution | str], notebooks: Mapping
) -> list[dict[str, object]]:
    """One row per combination: its parameters, the glued scalars, the error and the notebook.

    `executions[i]` is the Execution of combination i, or the error text when no notebook came
    back (the task itself failed); a combination that did not finish is marked "not run".
    Every row has every column; a scalar that a row's notebook did not glue is None.
    """
    parts = []
    for index, parameters in enumerate(combos):
        execution = executions.get(index, "not run")
        shown = {
            name: value if isinstance(value, int | float | str) or value is None else repr(value)
            for name, value in parameters.items()
        }
        glued: dict[str, object] = {}
        if isinstance(execution, Execution):
            for name, value in glued_scalars(execution.notebook).items():
                if name not in parameters:
                    glued[name] = value
                elif value != parameters[name]:  # a chapter may glue a parameter it changed
                    glued[f"{name} (glued)"] = value
        error = (execution.error or "") if isinstance(execution, Execution) else execution
        ending = {"error": error, "notebook": str(notebooks.get(index, ""))}
        parts.append((shown, glued, ending))
    glued_columns = dict.fromkeys(name for _, glued, _ in parts for name in glued)
    return [
        {**shown, **{name: glued.get(name) for name in glued_columns}, **ending}
        for shown, glued, ending in parts
    ]


def write_table(rows: list[dict[str, object]], path: Path) -> Path:
    """Write rows as CSV (atomically), the union of their columns in order of first appearance."""
    columns = list(dict.fromkeys(column for row in rows for column in row))

    def write(partial: Path) -> None:
        with open(partial, "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, columns)
            writer.writeheader()
            writer.writerows(rows)

    write_atomically(path, write)
    return Path(path)


def default_sweep_folder(chapter: str) -> Path:
    """`_build/sweeps/<chapter>-<YYYYmmdd-HHMMSS>` in the book's folder."""
    return project_root() / "_build" / "sweeps" / f"{chapter}-{time.strftime('%Y%m%d-%H%M%S')}"


def _check_empty_folder(folder: Path) -> None:
    """Raise unless `folder` is missing or empty, so that one sweep never mixes with another."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(f"sweep folder {folder} is not empty; give a new --out folder")


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep: the chapter's notebook (JSON), its combinations and their notebook paths."""

    chapter: str
    notebook: str
    combos: tuple[dict[str, object], ...]
    paths: tuple[Path, ...]
    table: Path


def plan_sweep(
    chapter: str, grid: Mapping[str, list[object]], out: Path | None = None
) -> SweepPlan:
    """Check a sweep without running anything: chapter and names known, values given and each
    within its declaration (`chapter_params`), `out` new.

    The notebooks will be `out/<chapter>-N.ipynb` in the order of `combinations(grid)`, and the
    table `out/sweep.csv`; `out` defaults to `default_sweep_folder(chapter)`.
    """
    import nbformat

    notebook = notebook_of(chapter)
    check_parameter_names(chapter, grid, notebook)
    empty = [name for name, values in grid.items() if not values]
    if empty:
        raise ValueError(f"no values given for {', '.join(empty)}")
    for name, values in grid.items():
        for value in values:
            chapter_params.check_parameters(chapter, {name: value})
    out = default_sweep_folder(chapter) if out is None else Path(out)
    _check_empty_folder(out)
    combos = combinations(grid)
    width = len(str(len(combos)))
    paths = tuple(out / f"{chapter}-{i + 1:0{width}d}.ipynb" for i in range(len(combos)))
    return SweepPlan(chapter, nbformat.writes(notebook), tuple(combos), paths, out / TABLE_NAME)


def run_sweep(
    plan: SweepPlan,
    client: Any = None,
    scheduler: str | None = None,
    report: Callable[[str], None] = print,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
) -> list[dict[str, object]]:
    """Run a planned sweep on Dask workers; write each notebook as it lands, then the table.

    Without a `client`, `fmnist_lib.runner.connect` makes one (`scheduler`, else
    $FMNIST_SCHEDULER, else a local cluster of `n_workers` x `threads_per_worker`, by default
    shaped by the cores, whose thread limits the kernels inherit), and `runner.run_tasks` runs
    one task per combination.
    A notebook whose chapter raised is kept as `<chapter>-N.failed.ipynb`; one progress line
    follows each combination; the table, failed rows included, is written at the end. When the
    sweep stops early (Ctrl-C, a lost scheduler) after some combinations finished, the table is
    written with the rest marked "not run"; when none finished, nothing is written.
    """
    from fmnist_lib.runner import connect, run_tasks

    executions: dict[int, Execution | str] = {}
    paths: dict[int, Path] = {}
    shape = {"n_workers": n_workers, "threads_per_worker": threads_per_worker}
    finished = False
    try:
        with connect(client, scheduler, n_tasks=len(plan.combos), **shape) as active:
            run_tasks(
                active,
                functools.partial(execute_notebook, plan.notebook),
                plan.combos,
                executions,
                land=functools.partial(_save_landed, plan, paths),
                line=functools.partial(_progress_line, plan),
                say=report,
            )
        finished = True
    finally:
        rows = table_rows(list(plan.combos), executions, paths)
        if finished or executions:
            write_table(rows, plan.table)
    return rows


def _save_landed(
    plan: SweepPlan, paths: dict[int, Path], index: int, future: Future
) -> Execution | str:
    """Save the notebook of combination `index` as its task ends and record its path; the
    Execution, or the error text when the task itself failed (its worker died twice, ...)."""
    try:
        execution = future.result()
        paths[index] = save_execution(execution, plan.paths[index])
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return execution


def _progress_line(plan: SweepPlan, index: int, execution: Execution | str, tick: Tick) -> str:
    """`chapter done/total [parameters] outcome; elapsed, ETA` for one finished combination."""
    outcome = (
        execution.error or f"ok in {execution.seconds:.0f} s"
        if isinstance(execution, Execution)
        else execution
    )
    return (
        f"{plan.chapter} {tick.done}/{tick.total} [{describe_parameters(plan.combos[index])}] "
        f"{outcome}; elapsed {tick.elapsed_s:.0f} s, ETA {tick.eta_s:.0f} s"
    )


def failed_rows(rows: Iterable[Mapping[str, object]]) -> list[Mapping[str, object]]:
    """The rows of a sweep table whose combination failed."""
    return [row for row in rows if row.get("error")]
