"""Hand computed numbers to a chapter's prose through myst-nb's glue: numbers and names only.

Prose stays in the `.md` file, so a reviewer reads the sentence the page shows. What is glued
into it is a number, or the name of a class or of a registered model; never a phrase.
"""

import numbers

import numpy as np

from fmnist_lib.data import CLASS_NAMES
from fmnist_lib.precision import PRECISIONS
from fmnist_lib.registry import MODELS


def plain(value: object) -> int | float | str:
    """A number (NumPy's too) as a plain Python number, or a class or model name as it is."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, numbers.Number) and not isinstance(value, bool | complex):
        return value
    if isinstance(value, str) and _is_a_name(value):
        return value
    raise TypeError(
        f"only numbers and class or model names are glued into prose, got {value!r} "
        f"({type(value).__name__}); write the sentence in the chapter and glue its numbers"
    )


def _is_a_name(text: str) -> bool:
    """Whether `text` is a class name, the registry name of a model or a precision's name."""
    return text in CLASS_NAMES or text in MODELS or text in PRECISIONS


def glue_values(**values: object) -> None:
    """Glue each keyword as a prose value (`{glue:text}` name) without displaying it here."""
    from myst_nb import glue

    converted = {name: plain(value) for name, value in values.items()}
    for name, value in converted.items():
        glue(name, value, display=False)
