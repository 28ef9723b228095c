"""Helpers for the chapters: hand computed numbers to the prose through myst-nb's glue."""

import numbers

import numpy as np


def plain(value: object) -> object:
    """A NumPy scalar as the Python number it holds (glue formats only plain numbers)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, numbers.Number | str):
        return value
    raise TypeError(f"only numbers and strings are glued into prose, got {type(value).__name__}")


def glue_values(**values: object) -> None:
    """Glue each keyword as a prose value (`{glue:text}` name) without displaying it here."""
    from myst_nb import glue

    converted = {name: plain(value) for name, value in values.items()}
    for name, value in converted.items():
        glue(name, value, display=False)
