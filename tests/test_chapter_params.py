"""fmnist_lib.chapter_params: each chapter's parameters declared once, equal to its parameters
cell, and one checker for types, bounds and names whose messages name the parameter, its bounds
and its meaning."""

import ast
import functools
from collections import defaultdict

import numpy as np
import pytest

from fmnist_lib import chapters
from fmnist_lib.chapter_params import (
    CHAPTER_PARAMETERS,
    MAX_EPOCHS,
    MAX_SEED,
    MIN_TRAIN_SUBSET,
    Parameter,
    check_chapter,
    check_parameters,
    check_value,
    describe_chapter,
    expected,
    parameters_of,
)
from fmnist_lib.data import N_TRAIN
from fmnist_lib.validation import ParameterError

CHAPTERS = chapters.chapter_names()
# Names that mean different things in different chapters, so their bounds may differ.
DIFFERENT_MEANINGS = {"image_index", "n_examples", "learning_rate"}

COUNT = Parameter("count", "int", "how many things", low=1, high=10)
RATE = Parameter("rate", "float", "a step size", low=0, high=1, boundaries="right", optional=True)


@functools.cache
def parameters_cell(chapter: str) -> dict:
    """What papermill finds in the chapter's parameters cell: name -> its inspection."""
    return chapters.chapter_parameters(chapters.notebook_of(chapter))


def test_the_chapters_with_declarations_are_the_chapters_of_the_toc_in_order():
    assert list(CHAPTER_PARAMETERS) == CHAPTERS


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_declared_parameters_are_the_names_of_the_parameters_cell_in_order(chapter):
    declared = [parameter.name for parameter in parameters_of(chapter)]
    assert declared == list(parameters_cell(chapter))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_defaults_of_the_parameters_cell_pass_their_declarations(chapter):
    defaults = {
        name: ast.literal_eval(found["default"]) for name, found in parameters_cell(chapter).items()
    }
    assert set(check_parameters(chapter, defaults)) == set(defaults)


def test_a_name_declared_in_several_chapters_has_one_kind_and_one_set_of_bounds():
    bounds = defaultdict(set)
    for declared in CHAPTER_PARAMETERS.values():
        for p in declared:
            bounds[p.name].add((p.kind, p.low, p.high, p.boundaries, p.choices))
    drifting = {
        name: found
        for name, found in bounds.items()
        if len(found) > 1 and name not in DIFFERENT_MEANINGS
    }
    assert drifting == {}


def test_every_training_subset_has_one_minimum_and_every_epoch_count_one_maximum():
    declared = [p for parameters in CHAPTER_PARAMETERS.values() for p in parameters]
    subsets = [p for p in declared if p.name.endswith("_subset") and p.name != "perceptron_subset"]
    assert {(p.low, p.high) for p in subsets} == {(MIN_TRAIN_SUBSET, N_TRAIN)}
    epochs = [p for p in declared if p.name.startswith("epochs") or p.name.endswith("_epochs")]
    epochs = [p for p in epochs if p.name != "perceptron_max_epochs"]
    assert len(epochs) > 10 and {(p.low, p.high) for p in epochs} == {(1, MAX_EPOCHS)}


@pytest.mark.parametrize("value", [1, 10, np.int64(5), np.int32(3)])
def test_an_integer_within_the_bounds_passes_as_a_plain_int(value):
    checked = check_value(COUNT, value)
    assert type(checked) is int and checked == value


@pytest.mark.parametrize("value", [0, 11, True, False, np.bool_(True), 2.0, "3", None])
def test_anything_but_an_integer_within_the_bounds_is_refused_naming_bounds_and_meaning(value):
    with pytest.raises(ParameterError) as error:
        check_value(COUNT, value)
    assert str(error.value).startswith("count must be an integer in [1, 10], got ")
    assert str(error.value).endswith("; count: how many things")


def test_a_float_takes_integers_and_none_when_optional_but_not_bools_or_the_open_bound():
    assert check_value(RATE, 1) == 1.0 and type(check_value(RATE, 1)) is float
    assert check_value(RATE, None) is None
    refused = r"rate must be None or a finite number in \(0, 1\]"
    for value in (0, 0.0, 1.5, True, float("nan")):
        with pytest.raises(ParameterError, match=refused):
            check_value(RATE, value)


def test_seeds_are_distinct_non_negative_integers_up_to_numpys_limit():
    seeds = Parameter("seeds", "seeds", "one run per seed")
    assert check_value(seeds, [0, np.int64(1), MAX_SEED]) == (0, 1, MAX_SEED)
    for bad in ([], [0, 0], [True], [-1], [MAX_SEED + 1], list(range(11)), 3, "0"):
        with pytest.raises(ParameterError, match=r"seeds.*; seeds: one run per seed$"):
            check_value(seeds, bad)


def test_names_must_be_drawn_from_the_choices_and_as_many_as_the_minimum():
    some = Parameter("models", "names", "the models", low=1, optional=True, choices=("a", "b"))
    assert check_value(some, ["b", "a"]) == ("b", "a")
    assert check_value(some, None) is None
    for bad in ([], ["c"], ["a", 1], "a", ("a", None)):
        with pytest.raises(ParameterError, match=r"models must be None or a non-empty list of"):
            check_value(some, bad)
    assert check_value(Parameter("models", "names", "any", choices=("a",)), []) == ()


def test_a_list_of_integers_is_checked_item_by_item():
    sizes = Parameter("sizes", "ints", "batch sizes", low=1, high=64)
    assert check_value(sizes, [1, np.int64(64)]) == (1, 64)
    for bad in ([], [0], [65], [True], [1.0], 8):
        with pytest.raises(ParameterError, match=r"sizes must|each of sizes must"):
            check_value(sizes, bad)
    assert expected(sizes) == "a non-empty list of integers in [1, 64]"


def test_a_path_is_none_or_a_non_empty_string():
    folder = Parameter("data_dir", "path", "the data's folder", optional=True)
    assert check_value(folder, None) is None and check_value(folder, "/data") == "/data"
    for bad in ("", "  ", 0, ["/data"]):
        with pytest.raises(ParameterError, match=r"data_dir must be None or a path"):
            check_value(folder, bad)


def test_check_parameters_refuses_unknown_names_listing_the_chapters_parameters():
    with pytest.raises(ParameterError, match=r"unknown parameter 'epoch' for chapter experiment_"):
        check_parameters("experiment_cnn", {"epoch": 2})
    with pytest.raises(ParameterError, match=r"parameters 'a', 'b' .*: n_trials, n_classes"):
        check_parameters("theory_softmax", {"a": 1, "b": 2})
    with pytest.raises(ValueError, match=r"unknown chapter 'cnn'; the chapters are: .*speed"):
        check_parameters("cnn", {})


def test_check_parameters_checks_only_the_given_values():
    assert check_parameters("theory_softmax", {"n_trials": np.int64(20)}) == {"n_trials": 20}
    with pytest.raises(ParameterError, match=r"train_subset must be None or an integer in \[128,"):
        check_parameters("reproduction", {"train_subset": MIN_TRAIN_SUBSET - 1})


def test_check_chapter_reads_every_declared_parameter_from_a_namespace_and_ignores_the_rest():
    namespace = {"n_trials": 50, "n_classes": 10, "n_examples": 100, "seed": 0, "data_dir": None}
    checked = check_chapter("theory_softmax", {**namespace, "np": np, "x": object()})
    assert checked == namespace
    with pytest.raises(ParameterError, match=r"chapter theory_softmax has no value for seed"):
        check_chapter("theory_softmax", {k: v for k, v in namespace.items() if k != "seed"})


def test_describe_chapter_lists_each_parameter_with_its_meaning_and_bounds():
    text = describe_chapter("theory_softmax")
    for parameter in parameters_of("theory_softmax"):
        assert parameter.name in text and parameter.meaning in text and expected(parameter) in text
    assert "an integer in [10, 100000]" in text
