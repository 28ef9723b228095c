"""Validation of notebook parameters, so a bad papermill `-p` value fails early and says why."""

import math


class ParameterError(ValueError):
    """A notebook or command-line parameter has a value it cannot take."""


def _fail(name: str, expected: str, value: object) -> ParameterError:
    return ParameterError(
        f"parameter {name!r} must be {expected}, got {value!r} ({type(value).__name__}); "
        f"pass a valid value, e.g. papermill -p {name} <value>"
    )


def check_int(name: str, value: object, minimum: int = 1, maximum: int | None = None) -> int:
    """Return `value` if it is an integer in [minimum, maximum], else raise ParameterError."""
    bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(name, f"an integer {bound}", value)
    if value < minimum or (maximum is not None and value > maximum):
        raise _fail(name, f"an integer {bound}", value)
    return value


def check_float(
    name: str, value: object, above: float | None = None, at_most: float | None = None
) -> float:
    """Return `value` as a float if it is a finite number > `above` and <= `at_most`."""
    bounds = []
    if above is not None:
        bounds.append(f"> {above}")
    if at_most is not None:
        bounds.append(f"<= {at_most}")
    expected = " and ".join(bounds) or "finite"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, f"a number {expected}", value)
    if (
        not math.isfinite(value)
        or (above is not None and value <= above)
        or (at_most is not None and value > at_most)
    ):
        raise _fail(name, f"a number {expected}", value)
    return float(value)


def check_optional_int(
    name: str, value: object, minimum: int = 1, maximum: int | None = None
) -> int | None:
    """Like `check_int`, but None (meaning 'all' or 'default') is allowed too."""
    return None if value is None else check_int(name, value, minimum, maximum)


def check_seeds(name: str, value: object, maximum_count: int = 10) -> tuple[int, ...]:
    """Return `value` as a tuple if it is a non-empty list of distinct non-negative integers."""
    expected = f"a list of 1 to {maximum_count} distinct non-negative integers"
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= maximum_count:
        raise _fail(name, expected, value)
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value):
        raise _fail(name, expected, value)
    if len(set(value)) != len(value):
        raise _fail(name, expected, value)
    return tuple(value)


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return `value` if it is one of `choices`, else raise ParameterError listing them."""
    if value not in choices:
        raise _fail(name, "one of " + ", ".join(repr(c) for c in choices), value)
    return value


def check_optional_path(name: str, value: object) -> str | None:
    """Return `value` if it is None or a non-empty string (a folder or file path)."""
    if value is None or (isinstance(value, str) and value.strip()):
        return value
    raise _fail(name, "None or a path as a non-empty string", value)
