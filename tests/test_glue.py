import numpy as np
import pytest

from fmnist_lib.glue import glue_values, plain


def test_plain_turns_numpy_scalars_into_python_numbers():
    value = plain(np.float64(0.25))
    assert type(value) is float and value == 0.25
    assert type(plain(np.int64(3))) is int


def test_plain_passes_class_and_model_names():
    assert plain("Coat") == "Coat"
    assert plain("seed-cnn") == "seed-cnn"


@pytest.mark.parametrize("value", [np.zeros(2), "is lower than", True, None, 1j])
def test_plain_refuses_arrays_phrases_bools_and_none(value):
    with pytest.raises(TypeError, match="only numbers and class or model names"):
        plain(value)


def test_glue_values_glues_plain_values(monkeypatch):
    glued = {}
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: glued.update({name: value}))
    glue_values(accuracy=np.float32(0.5), n=np.int64(7), worst="Shirt")
    assert glued == {"accuracy": 0.5, "n": 7, "worst": "Shirt"}
    assert type(glued["n"]) is int


def test_glue_values_glues_nothing_when_one_value_is_a_phrase(monkeypatch):
    glued = {}
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: glued.update({name: value}))
    with pytest.raises(TypeError):
        glue_values(n=1, verdict="did not over-fit")
    assert glued == {}
