import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmnist_lib.validation import (
    ParameterError,
    check_flag,
    check_optional_path,
    check_scalar,
    check_seeds,
)

# Values that are never an integer, whatever the bounds.
NOT_INTEGERS = st.one_of(
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.none(),
    st.just(np.bool_(True)),
    st.just(np.float64(2.0)),
)


def test_parameter_error_is_a_value_error():
    assert issubclass(ParameterError, ValueError)


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_integers_and_numpy_integers_inside_the_bounds_pass_as_plain_ints(value):
    for candidate in (value, np.int64(value), np.int32(value)):
        checked = check_scalar(candidate, "n", int, min_val=-(10**6), max_val=10**6)
        assert type(checked) is int and checked == value


@given(NOT_INTEGERS)
def test_anything_but_an_integer_is_refused_as_an_integer(value):
    with pytest.raises(ParameterError, match=r"n must be an integer >= 0, got"):
        check_scalar(value, "n", int, min_val=0)


@given(st.integers(), st.integers(min_value=0, max_value=100), st.integers(0, 100))
def test_integer_bounds_follow_include_boundaries(value, low, width):
    high = low + width
    for boundaries, inside in (
        ("both", low <= value <= high),
        ("left", low <= value < high),
        ("right", low < value <= high),
        ("neither", low < value < high),
    ):
        if inside:
            assert (
                check_scalar(
                    value, "k", int, min_val=low, max_val=high, include_boundaries=boundaries
                )
                == value
            )
        else:
            with pytest.raises(ParameterError, match=rf"k must be an integer in .{low}, {high}."):
                check_scalar(
                    value, "k", int, min_val=low, max_val=high, include_boundaries=boundaries
                )


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_must_be_finite_and_inside_open_bounds(value):
    inside = math.isfinite(value) and 0 < value < 1
    if inside:
        checked = check_scalar(
            np.float64(value), "rate", float, min_val=0, max_val=1, include_boundaries="neither"
        )
        assert type(checked) is float
    else:
        with pytest.raises(ParameterError, match=r"rate must be a finite number in \(0, 1\)"):
            check_scalar(value, "rate", float, min_val=0, max_val=1, include_boundaries="neither")


def test_a_float_parameter_takes_integers_but_not_bools():
    assert check_scalar(3, "x", float) == 3.0
    assert type(check_scalar(np.int64(3), "x", float)) is float
    with pytest.raises(ParameterError, match="x must be a finite number, got True"):
        check_scalar(True, "x", float)


def test_the_message_names_the_parameter_the_bounds_the_value_and_its_type():
    with pytest.raises(ParameterError) as error:
        check_scalar(2.5, "epochs", int, min_val=1, max_val=100)
    assert str(error.value) == "epochs must be an integer in [1, 100], got 2.5 (float)"


def test_one_sided_bounds_are_worded_with_the_right_inequality():
    with pytest.raises(ParameterError, match="must be an integer > 0"):
        check_scalar(0, "n", int, min_val=0, include_boundaries="right")
    with pytest.raises(ParameterError, match="must be a finite number <= 2"):
        check_scalar(3, "x", float, max_val=2)


def test_none_passes_only_when_allowed_and_the_message_says_so():
    assert check_scalar(None, "subset", int, min_val=1, allow_none=True) is None
    with pytest.raises(ParameterError, match="subset must be None or an integer >= 1"):
        check_scalar(0, "subset", int, min_val=1, allow_none=True)
    with pytest.raises(ParameterError, match="subset must be an integer >= 1, got None"):
        check_scalar(None, "subset", int, min_val=1)


def test_an_unknown_target_type_or_boundary_word_is_a_programming_error():
    with pytest.raises(TypeError, match="target_type"):
        check_scalar(1, "n", str)
    with pytest.raises(ValueError, match="include_boundaries"):
        check_scalar(1, "n", int, include_boundaries="open")


def test_check_flag_passes_true_and_false():
    assert check_flag(True, "flip") is True and check_flag(False, "flip") is False


@pytest.mark.parametrize("value", [0, 1, 1.0, "True", None, np.bool_(True)])
def test_check_flag_refuses_anything_else_naming_the_flag_and_the_value(value):
    with pytest.raises(ParameterError, match=r"^flip must be True or False, got .* \("):
        check_flag(value, "flip")


def test_check_seeds_accepts_lists_of_distinct_seeds():
    assert check_seeds([0, np.int64(1), 2], "seeds") == (0, 1, 2)


@given(
    st.one_of(
        st.lists(st.integers(0, 20), min_size=2).filter(lambda v: len(set(v)) < len(v)),
        st.lists(st.integers(max_value=-1), min_size=1, max_size=5),
        st.lists(st.floats(), min_size=1, max_size=5),
        st.lists(st.booleans(), min_size=1, max_size=5),
        st.lists(st.integers(0, 10**6), min_size=11, max_size=15, unique=True),
        st.just([]),
        st.text(max_size=5),
        st.integers(),
    )
)
def test_check_seeds_rejects_repeats_negatives_non_integers_and_bad_lengths(value):
    with pytest.raises(ParameterError, match="seeds"):
        check_seeds(value, "seeds")


def test_check_optional_path_rejects_empty_and_non_strings():
    assert check_optional_path(None, "data_dir") is None
    assert check_optional_path("/data", "data_dir") == "/data"
    for bad in ("", "  ", 3):
        with pytest.raises(ParameterError, match="data_dir"):
            check_optional_path(bad, "data_dir")
