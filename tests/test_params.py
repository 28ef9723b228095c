import pytest

from fmnist_lib.params import (
    ParameterError,
    check_choice,
    check_float,
    check_int,
    check_optional_int,
    check_optional_path,
    check_seeds,
)


def test_check_int_returns_valid_values():
    assert check_int("n", 3, minimum=1, maximum=5) == 3


@pytest.mark.parametrize("value", [0, 6, 2.5, "3", True, None])
def test_check_int_rejects_bad_values_with_a_message_naming_the_parameter(value):
    with pytest.raises(ParameterError, match=r"parameter 'n' must be an integer between 1 and 5"):
        check_int("n", value, minimum=1, maximum=5)


def test_parameter_error_is_a_value_error_and_suggests_papermill():
    with pytest.raises(ValueError, match="papermill -p epochs"):
        check_int("epochs", -1)


def test_check_optional_int_allows_none():
    assert check_optional_int("subset", None) is None
    with pytest.raises(ParameterError):
        check_optional_int("subset", 0)


def test_check_choice_lists_the_choices():
    assert check_choice("model", "seed-mlp", ("seed-mlp", "seed-cnn")) == "seed-mlp"
    with pytest.raises(ParameterError, match="'seed-mlp', 'seed-cnn'"):
        check_choice("model", "mlp", ("seed-mlp", "seed-cnn"))


def test_check_optional_path_rejects_empty_and_non_strings():
    assert check_optional_path("data_dir", None) is None
    assert check_optional_path("data_dir", "/data") == "/data"
    for bad in ("", "  ", 3):
        with pytest.raises(ParameterError, match="data_dir"):
            check_optional_path("data_dir", bad)


def test_check_float_accepts_numbers_in_range_as_floats():
    assert check_float("learning_rate", 1, above=0, at_most=10) == 1.0
    assert isinstance(check_float("learning_rate", 1, above=0), float)


@pytest.mark.parametrize("value", [0, -0.1, 10.5, float("nan"), float("inf"), "0.1", True, None])
def test_check_float_rejects_bad_values_naming_the_bounds(value):
    with pytest.raises(ParameterError, match=r"'learning_rate' must be a number > 0 and <= 10"):
        check_float("learning_rate", value, above=0, at_most=10)


def test_check_seeds_accepts_lists_of_distinct_seeds():
    assert check_seeds("seeds", [0, 1, 2]) == (0, 1, 2)


@pytest.mark.parametrize("value", [[], [0, 0], [-1], [1.5], "0,1", 3, [True], list(range(11))])
def test_check_seeds_rejects_bad_lists(value):
    with pytest.raises(ParameterError, match="'seeds' must be a list of 1 to 10 distinct"):
        check_seeds("seeds", value)
