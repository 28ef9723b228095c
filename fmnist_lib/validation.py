"""One validator for every scalar the project takes: configs, chapter parameters, theory code.

`check_scalar` follows scikit-learn's `check_scalar`: it names the parameter, the accepted type
and the bounds (inclusive or not) in one message; `check_flag` does the same for a switch that
is True or False. Every failure is a `ParameterError`, a
`ValueError`, so a bad papermill `-p` value, a bad `RunConfig` field and a bad argument of the
theory code all fail the same way. This module imports nothing from the package.
"""

import math
import numbers
from typing import Literal

Boundaries = Literal["both", "left", "right", "neither"]
_KINDS = {int: "an integer", float: "a finite number"}


class ParameterError(ValueError):
    """A parameter (of a config, a chapter or a function) has a value it cannot take."""


def expected_scalar(
    target_type: type,
    min_val: float | None = None,
    max_val: float | None = None,
    boundaries: Boundaries = "both",
) -> str:
    """The words for what `check_scalar` accepts, e.g. 'an integer in [1, 100]'."""
    kind = _KINDS[target_type]
    closed_left = boundaries in ("both", "left")
    closed_right = boundaries in ("both", "right")
    if min_val is not None and max_val is not None:
        left, right = "[" if closed_left else "(", "]" if closed_right else ")"
        return f"{kind} in {left}{min_val}, {max_val}{right}"
    if min_val is not None:
        return f"{kind} {'>=' if closed_left else '>'} {min_val}"
    if max_val is not None:
        return f"{kind} {'<=' if closed_right else '<'} {max_val}"
    return kind


def _is_kind(value: object, target_type: type) -> bool:
    """Whether `value` is an integer (NumPy's too) or, for float, any real number; never a bool."""
    if isinstance(value, bool) or (hasattr(value, "dtype") and value.dtype == bool):
        return False
    if target_type is int:
        return isinstance(value, numbers.Integral)
    return isinstance(value, numbers.Real) and math.isfinite(value)


def check_scalar(
    value: object,
    name: str,
    target_type: type,
    *,
    min_val: float | None = None,
    max_val: float | None = None,
    include_boundaries: Boundaries = "both",
    allow_none: bool = False,
) -> int | float | None:
    """`value` as a Python int or float if it has the type and lies in the bounds, else raise."""
    if target_type not in _KINDS:
        raise TypeError(f"target_type must be int or float, got {target_type!r}")
    if include_boundaries not in ("both", "left", "right", "neither"):
        raise ValueError(
            f"include_boundaries must be both, left, right or neither, got {include_boundaries!r}"
        )
    if allow_none and value is None:
        return None
    ok = _is_kind(value, target_type)
    if ok:
        value = target_type(value)
        closed_left = include_boundaries in ("both", "left")
        closed_right = include_boundaries in ("both", "right")
        if min_val is not None:
            ok = value >= min_val if closed_left else value > min_val
        if ok and max_val is not None:
            ok = value <= max_val if closed_right else value < max_val
    if not ok:
        expected = expected_scalar(target_type, min_val, max_val, include_boundaries)
        if allow_none:
            expected = f"None or {expected}"
        raise ParameterError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")
    return value


def check_flag(value: object, name: str) -> bool:
    """`value` if it is True or False (not 0, 1 or a NumPy bool), else raise."""
    if not isinstance(value, bool):
        kind = type(value).__name__
        raise ParameterError(f"{name} must be True or False, got {value!r} ({kind})")
    return value


def check_seeds(value: object, name: str, max_count: int = 10) -> tuple[int, ...]:
    """`value` as a tuple if it is a list of 1 to `max_count` distinct non-negative integers."""
    expected = f"a list of 1 to {max_count} distinct non-negative integers"
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= max_count:
        raise ParameterError(f"{name} must be {expected}, got {value!r}")
    seeds = tuple(check_scalar(seed, f"each of {name}", int, min_val=0) for seed in value)
    if len(set(seeds)) != len(seeds):
        raise ParameterError(f"{name} must be {expected}, got {value!r} (a seed repeats)")
    return seeds


def check_optional_path(value: object, name: str) -> str | None:
    """`value` if it is None or a non-empty string (a folder or file path), else raise."""
    if value is None or (isinstance(value, str) and value.strip()):
        return value
    raise ParameterError(f"{name} must be None or a path as a non-empty string, got {value!r}")
