import numpy as np
import pytest

from fmnist_lib.book import glue_values, plain


def test_plain_turns_numpy_scalars_into_python_numbers():
    value = plain(np.float64(0.25))
    assert type(value) is float and value == 0.25
    assert type(plain(np.int64(3))) is int
    assert plain("Coat") == "Coat"


def test_plain_refuses_arrays():
    with pytest.raises(TypeError, match="ndarray"):
        plain(np.zeros(2))


def test_glue_values_glues_plain_values(monkeypatch):
    glued = {}
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: glued.update({name: value}))
    glue_values(accuracy=np.float32(0.5), n=np.int64(7))
    assert glued == {"accuracy": 0.5, "n": 7}
    assert type(glued["n"]) is int
