import numpy as np
import pytest

from fmnist_lib.stat_tests import mcnemar


def test_mcnemar_counts_discordant_pairs_and_gives_an_exact_p_value():
    y = np.zeros(20, dtype=int)
    a = np.zeros(20, dtype=int)  # always right
    b = np.array([1] * 6 + [0] * 14)  # wrong on the first six
    result = mcnemar(y, a, b)
    assert (result["only_a_right"], result["only_b_right"]) == (6, 0)
    assert result["p_value"] == pytest.approx(2 * 0.5**6)  # two-sided exact binomial


def test_mcnemar_of_identical_predictions_is_not_significant():
    y = np.array([0, 1, 2])
    assert mcnemar(y, y, y)["p_value"] == 1.0
    with pytest.raises(ValueError, match="same length"):
        mcnemar(y, y, y[:2])
