"""The rules every chapter follows, read from the Jupytext sources without executing anything.

A reader can open every check (check cells are `hide-cell`, never `remove-cell`), sees where each
library call comes from (one visible cell imports the package's modules), and every exercise
solution is code the build executes.
"""

import re

import jupytext
import pytest
from test_notebooks import CHAPTERS, NOTEBOOKS

CHECK = re.compile(r"^\s*(assert\b|np\.testing\.assert|pd\.testing\.assert)", re.MULTILINE)
PACKAGE_IMPORT = re.compile(r"^\s*(from\s+fmnist_lib\b|import\s+fmnist_lib\b)", re.MULTILINE)
MODULE_IMPORT = re.compile(r"^from fmnist_lib import [a-z_, ]+$", re.MULTILINE)
DIRECTIVE = re.compile(r"^```\{(exercise|solution-start|solution-end)\}\s*(\S*)", re.MULTILINE)
TENSORFLOW_IMPORT = re.compile(r"^\s*(import|from)\s+(keras|tensorflow)\b", re.MULTILINE)


def cells(chapter: str) -> list:
    """The cells of a chapter as Jupytext reads them."""
    return jupytext.read(NOTEBOOKS / f"{chapter}.md").cells


def tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_check_cell_is_removed_from_the_page(chapter):
    """A cell with an assert is never `remove-cell`; the reader can open it (`hide-cell`)."""
    removed_checks = [
        cell.source.splitlines()[0]
        for cell in cells(chapter)
        if cell.cell_type == "code" and "remove-cell" in tags(cell) and CHECK.search(cell.source)
    ]
    assert removed_checks == []


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_one_visible_cell_imports_the_package_modules(chapter):
    """Exactly one code cell imports from fmnist_lib; it is visible and imports modules only."""
    importing = [
        cell
        for cell in cells(chapter)
        if cell.cell_type == "code" and PACKAGE_IMPORT.search(cell.source)
    ]
    assert len(importing) == 1, f"{len(importing)} cells import from fmnist_lib"
    (cell,) = importing
    assert not {"remove-cell", "remove-input", "hide-cell", "hide-input"} & set(tags(cell))
    lines = [line for line in cell.source.splitlines() if PACKAGE_IMPORT.match(line)]
    assert all(MODULE_IMPORT.match(line) for line in lines), lines


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_tensorflow_log_is_quieted_by_the_package_not_by_the_chapter(chapter):
    """No chapter sets TF_CPP_MIN_LOG_LEVEL: importing fmnist_lib does, so a chapter that imports
    keras or tensorflow itself imports the package first, before TensorFlow loads."""
    code = "\n".join(cell.source for cell in cells(chapter) if cell.cell_type == "code")
    assert "TF_CPP_MIN_LOG_LEVEL" not in code
    package, tensorflow = PACKAGE_IMPORT.search(code), TENSORFLOW_IMPORT.search(code)
    assert tensorflow is None or package.start() < tensorflow.start(), tensorflow.group(0)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_parameters_are_validated_in_a_hidden_cell_right_after_them(chapter):
    """The cell after the parameters checks them all against `chapter_params`' declarations."""
    code = [cell for cell in cells(chapter) if cell.cell_type == "code"]
    index = next(i for i, cell in enumerate(code) if "parameters" in tags(cell))
    following = code[index + 1]
    assert "hide-cell" in tags(following)
    assert f'chapter_params.check_chapter("{chapter}", globals())' in following.source


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_exercise_has_a_solution_made_of_executed_cells(chapter):
    """Exercises use sphinx-exercise; solutions hold code cells, never bare ```python blocks."""
    page = "\n".join(
        cell.source if cell.cell_type == "markdown" else "<<code cell>>" for cell in cells(chapter)
    )
    exercises = re.findall(r"^```\{exercise\}[^\n]*\n:label: *(\S+)", page, re.MULTILINE)
    solutions = re.findall(r"^```\{solution-start\} *(\S+)", page, re.MULTILINE)
    bodies = re.findall(r"^```\{solution-start\}.*?^```\{solution-end\}", page, re.S | re.M)
    assert exercises, "the chapter has no {exercise}"
    assert solutions == exercises
    assert len(bodies) == len(solutions)
    assert not [b for b in bodies if re.search(r"^```(python|ipython3?)\s*$", b, re.M)]
    assert "Solution to exercise" not in page
